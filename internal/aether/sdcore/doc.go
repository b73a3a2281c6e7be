// Package sdcore is AMP's SD-Core adapter: it renders the aether 2.1.x
// configuration of every enterprise and site into the device groups and
// network slices SD-Core's configuration API (omec-project webconsole)
// takes, and the slice QoS a UPF's config endpoint takes, and pushes them.
// It replaces onosproject/sdcore-adapter; docs/sdcore.md has the mapping,
// the id scheme and the error cases.
//
// It implements controller.Adapter and imports internal/config,
// internal/controller and internal/schema, and registers itself, with its
// --sdcore-* flags, with internal/component (register.go);
// internal/aether/emulator/sdcore holds the emulator its tests run against.
package sdcore
