// Package schema turns YANG modules into the schema tree that every AMP
// interface is derived from.
//
// It owns: loading modules with goyang (embedded model sets plus --models
// directories), the Node tree (containers, lists, leaves, leaf-lists with their
// keys, types, defaults, mandatory, unique, leafref and must statements),
// leaf value parsing and canonical formatting, the JSON codec (RFC 7951 and the
// plain encoding REST clients use), an XPath 1.0 subset evaluator for must
// and leafref, and the mapping between REST paths, gNMI paths and schema nodes.
//
// It knows nothing about storage or transactions: the instance data it
// evaluates XPath over is reached through the DataNode interface, which the
// config engine implements over its snapshots. It may import only goyang and
// the standard library.
//
// Data representation, used by every package above this one: an object's
// content is a map[string]any keyed by local node name. Leaf values are
// canonical Go values: string (string, enumeration, identityref, bits,
// binary, decimal64 in canonical text), int64 (int8..int64), uint64
// (uint8..uint64), bool, Empty (type empty); a leaf-list is []any; a container
// is map[string]any; a list, inside a tree that has not been split into objects
// yet, is []any of map[string]any.
package schema
