package provisionapi

import (
	"fmt"
	"strconv"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/edge/edgeapi"
	"github.com/amp-edge/amp/internal/provision/cluster"
	"github.com/amp-edge/amp/internal/provision/inventory"
	"github.com/amp-edge/amp/internal/provision/ipam"
	"github.com/amp-edge/amp/internal/schema"
)

// The layer's part of the OpenAPI document (GET /spec): every route of
// routes(), with its parameters, bodies, answers and problems, so the
// document a client generates from and the isolation sweep walks
// (test/e2e) cover the provision routes too. The schemas say what the
// handlers of this package answer, member for member.

// Component schema names; reserved, so no model node takes one.
const (
	schemaSiteSpec     = "ProvisionSiteSpec"
	schemaCheck        = "ProvisionCheckResult"
	schemaCableRow     = "ProvisionCableRow"
	schemaTrace        = "ProvisionTrace"
	schemaArtifacts    = "ProvisionArtifactList"
	schemaImport       = "ProvisionImport"
	schemaAllocDryRun  = "IpamDryRun"
	schemaPlan         = "ClusterPlan"
	schemaToken        = "ClusterToken"
	schemaMintedToken  = "ClusterTokenMinted"
	schemaRegistration = "ClusterRegistration"
	// Names of the generic document this layer refers to.
	schemaTxnID    = "TransactionId"
	schemaChange   = "Change"
	paramDryRun    = "dry-run"
	tagProvision   = "provision"
	tagIPAM        = "ipam"
	tagClusters    = "clusters"
	mtSVG, mtCSV   = "image/svg+xml", "text/csv"
	mtText, mtJSON = "text/plain", "application/json"
)

var spec = &compat.Spec{
	Reserve: []string{schemaSiteSpec, schemaCheck, schemaCableRow, schemaTrace, schemaArtifacts, schemaImport,
		schemaAllocDryRun, schemaPlan, schemaToken, schemaMintedToken, schemaRegistration},
	Paths: specPaths,
	TagDescriptions: map[string]string{
		tagProvision: "Resource provisioning of inventory sites: conventions, import, rack and cable views, zero-touch artifacts (docs/provisioning.md).",
		tagIPAM:      "Free addresses, prefixes and VLAN ids of an inventory site, and their allocation (NetBox's available-* routes).",
		tagClusters:  "Declared Kubernetes clusters: the plan to their declaration, registration tokens and the agent's registration.",
	},
}

func specPaths(b compat.SpecBuilder, sets []*schema.ModelSet) {
	var set *schema.ModelSet
	for _, s := range sets {
		if s.Name == inventory.SetName && s.Version == inventory.Version {
			set = s
		}
	}
	if set == nil {
		return // the routes answer 404 without the set they serve
	}
	specSchemas(b)
	viewPaths(b)
	conventionsPaths(b)
	artifactPaths(b)
	ipamPaths(b, set)
	clusterPaths(b)
}

// Schema helpers.

func arr(items *openapi3.SchemaRef, desc string) *openapi3.Schema {
	a := openapi3.NewArraySchema()
	a.Items = items
	return compat.Described(a, desc)
}

func val(s *openapi3.Schema) *openapi3.SchemaRef { return &openapi3.SchemaRef{Value: s} }

func strs(desc string) *openapi3.Schema { return arr(val(openapi3.NewStringSchema()), desc) }

func boolean(desc string) *openapi3.Schema {
	return compat.Described(openapi3.NewBoolSchema(), desc)
}

func i32(desc string) *openapi3.Schema { return compat.Described(openapi3.NewInt32Schema(), desc) }

func enum(desc string, vals ...any) *openapi3.Schema {
	return compat.Described(openapi3.NewStringSchema().WithEnum(vals...), desc)
}

// Operation helpers.

func operation(b compat.SpecBuilder, tag, id, summary, desc string) *openapi3.Operation {
	return &openapi3.Operation{Tags: []string{b.Tag(tag, "")}, OperationID: b.OpID(id), Summary: summary,
		Description: desc, Responses: openapi3.NewResponses()}
}

func answer(o *openapi3.Operation, status, desc string, s *openapi3.SchemaRef) *openapi3.Response {
	r := openapi3.NewResponse().WithDescription(desc).WithJSONSchemaRef(s)
	o.Responses.Set(status, &openapi3.ResponseRef{Value: r})
	return r
}

func content(o *openapi3.Operation, status, desc string, c openapi3.Content) *openapi3.Response {
	r := openapi3.NewResponse().WithDescription(desc).WithContent(c)
	o.Responses.Set(status, &openapi3.ResponseRef{Value: r})
	return r
}

func pathParam(name, desc string) *openapi3.ParameterRef {
	p := openapi3.NewPathParameter(name).WithSchema(openapi3.NewStringSchema())
	p.Description = desc
	return &openapi3.ParameterRef{Value: p}
}

func query(name, desc string, s *openapi3.Schema) *openapi3.ParameterRef {
	p := openapi3.NewQueryParameter(name).WithSchema(s)
	p.Description = desc
	return &openapi3.ParameterRef{Value: p}
}

func header(desc string, s *openapi3.Schema) *openapi3.HeaderRef {
	return &openapi3.HeaderRef{Value: &openapi3.Header{Parameter: openapi3.Parameter{Description: desc, Schema: val(s)}}}
}

func jsonBody(desc string, s *openapi3.SchemaRef) *openapi3.RequestBodyRef {
	return &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(true).WithDescription(desc).WithJSONSchemaRef(s)}
}

// committedWrite answers as every write of the generic API: 200 with the
// transaction id (or the dry run's changes) and the committed headers.
func committedWrite(b compat.SpecBuilder, o *openapi3.Operation) {
	o.Parameters = append(o.Parameters, b.ParamRef(paramDryRun))
	o.Parameters = append(o.Parameters, b.TxnHeaders()...)
	r := answer(o, "200", "Committed as ONE transaction: its id (with dry-run=true: the changes it would make, nothing written). "+
		"A body that changes nothing records no transaction (header X-AMP-Transaction-Unchanged).", b.TxnOrDryRun(schemaTxnID))
	r.Headers = b.CommittedHeaders()
	b.Errors(o, true, false)
}

func siteParam() *openapi3.ParameterRef {
	return pathParam("site", "The inventory site's id (site-id).")
}

func specSchemas(b compat.SpecBuilder) {
	str := compat.Str
	dev := compat.Obj(map[string]*openapi3.Schema{
		"devname":    str("The device's name in DNS: <devname>.<deployment>.<site>.<domain>."),
		"deployment": str("The deployment it serves (default: the first)."),
		"role":       str("Its role (e.g. mgmt-switch, leaf-switch, compute-server, mgmt-server), which decides its interfaces and addresses."),
		"type":       str("Its device type (device-types, or one already in the inventory)."),
		"rack":       str("The rack it is mounted in."),
		"position":   i32("Its lowest rack unit."),
		"face":       enum("The rack face it is mounted on (default front).", "front", "rear"),
		"serial":     str("Its serial number."),
		"macs":       compat.Described(openapi3.NewObjectSchema().WithAdditionalProperties(openapi3.NewStringSchema()), "MAC address per interface name."),
	}, "devname", "role", "type")
	ifc := compat.Obj(map[string]*openapi3.Schema{"name": str("Interface name."), "type": str("Interface type (NetBox's, e.g. 1000base-t)."),
		"mgmt-only": boolean("Management-only interface.")}, "name", "type")
	dt := compat.Obj(map[string]*openapi3.Schema{
		"id": str("Device type id."), "manufacturer": str("Manufacturer id."), "model": str("Model name."),
		"u-height": i32("Height in rack units (default 1)."), "full-depth": boolean("Occupies both faces (default true)."),
		"interfaces": arr(val(ifc), "Its interface templates."),
	}, "id", "manufacturer", "model", "interfaces")
	cable := compat.Obj(map[string]*openapi3.Schema{
		"id": str("Cable id (default: derived from side A)."), "label": str("Label."),
		"a": str("Side A: <devname>:<interface>."), "b": str("Side B: <devname>:<interface>."),
		"type": str("Cable type (NetBox's, e.g. cat6)."), "length": compat.Described(openapi3.NewFloat64Schema(), "Length."),
		"length-unit": str("Length unit (m, cm, ft, in)."), "color": str("Colour, six hex digits."),
	}, "a", "b")
	b.AddSchema(schemaSiteSpec, compat.Described(compat.Obj(map[string]*openapi3.Schema{
		"site":         str("The site id, a DNS label: the <site> of every DNS name."),
		"display-name": str("The site's display name."),
		"location":     str("Where it is."),
		"address":      str("Its postal address."),
		"organization": compat.Obj(map[string]*openapi3.Schema{"id": str("Organization id."), "display-name": str("Display name."),
			"tenant": str("The Aether enterprise the organization is (its tenant): its admins may read the site.")}, "id"),
		"domain": str("The DNS suffix of the site's names."),
		"block":  str("The site's /22 (e.g. 10.1.0.0/22); deployment k takes its k-th /23."),
		"deployments": arr(val(compat.Obj(map[string]*openapi3.Schema{"name": str("Deployment name (e.g. prod1)."),
			"kind": str("Deployment kind (e.g. production, staging, development).")}, "name", "kind")),
			"The site's deployments, in order: the first is ordinal 0 (VLANs 800/801), the next 1 (810/811)."),
		"racks": arr(val(compat.Obj(map[string]*openapi3.Schema{"id": str("Rack id."), "display-name": str("Display name."),
			"u-height": i32("Height in rack units (default 42).")}, "id")), "The site's racks."),
		"device-types": arr(val(dt), "Device types to create or merge."),
		"devices":      arr(val(dev), "The site's devices."),
		"cables":       arr(val(cable), "The site's cables."),
	}, "site", "organization", "block", "deployments"), "A short site spec; the book's conventions make the whole site of it (docs/provisioning.md, \"Site conventions\")."))

	problem := compat.Obj(map[string]*openapi3.Schema{"path": str("The inventory path that departs."), "reason": str("How, and what the conventions give.")}, "path", "reason")
	b.AddSchema(schemaCheck, compat.Described(compat.Obj(map[string]*openapi3.Schema{
		"site":       str("The site checked."),
		"index":      compat.I64("The inventory index the check read."),
		"departures": arr(val(problem), "Every departure from the conventions (empty: none)."),
	}, "site", "index", "departures"), "A site checked against the conventions."))

	cableProps := func() map[string]*openapi3.Schema {
		return map[string]*openapi3.Schema{
			"cable-id": str("Cable id."), "label": str("Label."), "status": str("Status (planned, connected, decommissioning)."),
			"type": str("Cable type."), "length": str("Length, a decimal without trailing zeros (absent: unknown)."),
			"length-unit": str("Length unit."), "color": str("Colour, six hex digits."),
		}
	}
	row := cableProps()
	for _, side := range []string{"a", "b"} {
		row["side-"+side] = str("Side " + side + ": the device's name.")
		row["device-"+side] = str("Side " + side + ": the device's id at the site.")
		row["termination-"+side] = str("Side " + side + ": the interface.")
	}
	b.AddSchema(schemaCableRow, compat.Described(compat.Obj(row, "cable-id", "label", "status", "type",
		"side-a", "device-a", "termination-a", "side-b", "device-b", "termination-b"), "One row of the cable report."))
	end := compat.Obj(map[string]*openapi3.Schema{"device": str("The device's id at the site."), "name": str("The device's name."),
		"interface": str("The interface.")}, "device", "name", "interface")
	hop := compat.Obj(map[string]*openapi3.Schema{"near": end, "cable": compat.Obj(cableProps(), "cable-id", "label", "status", "type"), "far": end}, "near", "cable", "far")
	b.AddSchema(schemaTrace, compat.Described(compat.Obj(map[string]*openapi3.Schema{
		"origin": end,
		"via":    strs("For a virtual (VLAN) interface: the interfaces it rides on, down to the physical one the path starts at."),
		"hops":   arr(val(hop), "The cable path: one hop when the interface is cabled, none when not (the inventory has direct cables only)."),
	}, "origin", "via", "hops"), "The cable path from one interface."))

	info := compat.Obj(map[string]*openapi3.Schema{
		"name": str("The artifact's name (may hold '/')."), "size": i32("Its size in bytes."),
		"sha256": str("Hex SHA-256 of its content (also its ETag)."), "content-type": str("The media type it is served with."),
		"changed": boolean("With ?since=: new, or its content differs from the one rendered at that index."),
	}, "name", "size", "sha256", "content-type")
	b.AddSchema(schemaArtifacts, compat.Described(compat.Obj(map[string]*openapi3.Schema{
		"site":      str("The site."),
		"index":     compat.I64("The inventory index the artifacts were rendered from."),
		"artifacts": arr(val(info), "Every artifact the site renders: netplan, DHCP (Kea), DNS zones, iPXE, Ansible, Terraform and Prometheus files."),
		"since":     compat.I64("The ?since= index compared with."),
		"removed":   strs("With ?since=: artifacts rendered then and no longer."),
	}, "site", "index", "artifacts"), "A site's zero-touch artifacts."))

	b.AddSchema(schemaImport, compat.Described(compat.Obj(map[string]*openapi3.Schema{
		"inventory": compat.Described(openapi3.NewObjectSchema(), "The inventory set's root, as GET /inventory/v1.0.0 answers it, merged as a JSON merge patch (null clears a leaf)."),
		"prune":     boolean("Also remove what the imported sites and device types hold that the tree does not (default false)."),
	}, "inventory"), "An inventory mapped from elsewhere (amp provision import maps NetBox's and the devicetype-library's)."))

	b.AddSchema(schemaAllocDryRun, compat.Described(compat.Obj(map[string]*openapi3.Schema{
		"dry-run": boolean("Always true."),
		"changes": arr(b.Ref(schemaChange), "What the allocation would create."),
	}, "dry-run", "changes"), "An allocation with dry-run=true: nothing is written."))

	reg := compat.Obj(map[string]*openapi3.Schema{
		"registered-at": str("When (RFC 3339)."), "token-id": str("The token used."),
		"minted-by": str("Who minted the token."), "source": str("The agent's address."),
	}, "registered-at", "token-id", "minted-by", "source")
	b.AddSchema(schemaRegistration, compat.Described(reg, "The cluster agent's registration."))
	step := compat.Obj(map[string]*openapi3.Schema{
		"action": enum("What to do.", "create", "add", "change", "remove"),
		"object": enum("What it acts on.", "cluster", "distribution", "kubernetes-version", "cni", "label", "node"),
		"name":   str("The label or node it acts on."),
		"from":   compat.Described(&openapi3.Schema{}, "What the cluster reports (a value, or a node: device, host, roles, labels, taints)."),
		"to":     compat.Described(&openapi3.Schema{}, "What is declared (same shapes as from)."),
	}, "action", "object")
	regRef := b.Ref(schemaRegistration)
	plan := compat.Obj(map[string]*openapi3.Schema{
		"cluster":     str("The cluster."),
		"index":       compat.I64("The inventory index the plan read."),
		"reported":    boolean("The cluster's agent has reported what it runs."),
		"reported-at": str("When it last reported."),
		"steps":       arr(val(step), "The steps from what the cluster reports to its declaration (all of it when nothing is reported)."),
		"summary": compat.Obj(map[string]*openapi3.Schema{"add": i32("Steps that add or create."),
			"change": i32("Steps that change."), "remove": i32("Steps that remove.")}, "add", "change", "remove"),
	}, "cluster", "index", "reported", "registration", "steps", "summary")
	plan.Properties["registration"] = &openapi3.SchemaRef{Value: &openapi3.Schema{Nullable: true, AllOf: openapi3.SchemaRefs{regRef},
		Description: "Its agent's registration; null before."}}
	b.AddSchema(schemaPlan, compat.Described(plan, "A declared cluster's plan."))

	tokenProps := func() map[string]*openapi3.Schema {
		return map[string]*openapi3.Schema{
			"id": str("Token id."), "cluster": str("The cluster it registers."),
			"created":   compat.Described(openapi3.NewDateTimeSchema(), "When it was minted."),
			"expires":   compat.Described(openapi3.NewDateTimeSchema(), "When it stops working."),
			"minted-by": str("Who minted it."),
		}
	}
	listed := tokenProps()
	listed["expired"] = boolean("It has expired (unused).")
	b.AddSchema(schemaToken, compat.Described(compat.Obj(listed, "id", "cluster", "created", "expires", "minted-by", "expired"),
		"An unused registration token, as listed: never its secret."))
	minted := tokenProps()
	minted["token"] = str("The secret (ampreg_…): shown only now, works once.")
	minted["note"] = str("A reminder of the above.")
	b.AddSchema(schemaMintedToken, compat.Described(compat.Obj(minted, "id", "cluster", "created", "expires", "minted-by", "token"),
		"A newly minted registration token."))
}

func viewPaths(b compat.SpecBuilder) {
	o := operation(b, tagProvision, "getRackElevation", "A rack's elevation as SVG",
		"The rack's devices by unit, front or rear (NetBox's elevation). The drawing runs no script and loads nothing.")
	o.Parameters = openapi3.Parameters{query("face", "The face drawn (default front).", openapi3.NewStringSchema().WithEnum("front", "rear").WithDefault("front"))}
	content(o, "200", "The drawing.", openapi3.NewContentWithSchema(openapi3.NewStringSchema(), []string{mtSVG}))
	b.Errors(o, false, false)
	b.Doc().Paths.Set("/provision/{site}/racks/{rack}/elevation.svg", &openapi3.PathItem{
		Parameters: openapi3.Parameters{siteParam(), pathParam("rack", "The rack's id (rack-id).")}, Get: o})

	o = operation(b, tagProvision, "getCableReport", "The site's cable report",
		"Every cable with its two ends, in natural order of the ids: JSON, or CSV for ?format=csv or Accept: text/csv.")
	o.Parameters = openapi3.Parameters{query("format", "json or csv (default: by Accept, else json).", openapi3.NewStringSchema().WithEnum("json", "csv"))}
	c := openapi3.NewContentWithJSONSchema(arr(b.Ref(schemaCableRow), "The cables."))
	c[mtCSV] = openapi3.NewMediaType().WithSchema(compat.Described(openapi3.NewStringSchema(), "The same rows as CSV, with a header line (a download: Content-Disposition names <site>-cables.csv)."))
	content(o, "200", "The report.", c)
	b.Errors(o, false, false)
	b.Doc().Paths.Set("/provision/{site}/cables", &openapi3.PathItem{Parameters: openapi3.Parameters{siteParam()}, Get: o})

	o = operation(b, tagProvision, "traceInterface", "The cable path from an interface", "")
	answer(o, "200", "The trace.", b.Ref(schemaTrace))
	b.Errors(o, false, false)
	b.Doc().Paths.Set("/provision/{site}/devices/{device}/interfaces/{name}/trace", &openapi3.PathItem{
		Parameters: openapi3.Parameters{siteParam(), pathParam("device", "The device's id (device-id)."), pathParam("name", "The interface's name.")}, Get: o})
}

func conventionsPaths(b compat.SpecBuilder) {
	o := operation(b, tagProvision, "provisionSite", "Generate a site from a short spec, by the book's conventions",
		"Operators only. The site, its organization, device types, VLANs, prefixes, devices, interfaces, addresses and cables, "+
			"merged as ONE transaction. A spec whose site is already as generated changes nothing. Bounded by the bulk body limit.")
	o.RequestBody = jsonBody("The site spec (YAML is converted by amp provision site -f).", b.Ref(schemaSiteSpec))
	committedWrite(b, o)
	b.Doc().Paths.Set("/provision/sites", &openapi3.PathItem{Post: o})

	o = operation(b, tagProvision, "checkSite", "Check a site against the conventions",
		"Every departure of the site (generated, entered by hand or imported) from the conventions, with its path and reason.")
	answer(o, "200", "The departures.", b.Ref(schemaCheck))
	b.Errors(o, false, false)
	b.Doc().Paths.Set("/provision/{site}/check", &openapi3.PathItem{Parameters: openapi3.Parameters{siteParam()}, Get: o})

	o = operation(b, tagProvision, "importInventory", "Import an inventory (NetBox, devicetype-library) as ONE transaction",
		"Operators only. The tree merges into the inventory, so importing the same data again changes nothing. "+
			"An existing deployment keeps AMP's kind and ordinal; a new one gets the lowest free ordinal. Bounded by the bulk body limit.")
	o.RequestBody = jsonBody("The inventory and whether to prune.", b.Ref(schemaImport))
	committedWrite(b, o)
	b.Doc().Paths.Set("/provision/import", &openapi3.PathItem{Post: o})
}

func artifactPaths(b compat.SpecBuilder) {
	o := operation(b, tagProvision, "listArtifacts", "List a site's zero-touch artifacts",
		"Rendered from the inventory (cached per site, re-rendered when the site changes). "+
			"A site the renderer refuses (e.g. a node without an address) is a 409 naming the inventory path.")
	o.Parameters = openapi3.Parameters{query("since", "Compare with the artifacts as rendered at this inventory index.", openapi3.NewInt64Schema().WithMin(0))}
	answer(o, "200", "The artifacts.", b.Ref(schemaArtifacts))
	b.Errors(o, false, false)
	b.Doc().Paths.Set("/provision/{site}/artifacts", &openapi3.PathItem{Parameters: openapi3.Parameters{siteParam()}, Get: o})

	o = operation(b, tagProvision, "getArtifact", "One artifact's content", "")
	c := openapi3.NewContent()
	for _, mt := range []string{"application/yaml", mtJSON} {
		c[mt] = openapi3.NewMediaType().WithSchema(compat.Described(&openapi3.Schema{}, "The file: a netplan, Kea, Ansible or Prometheus document."))
	}
	for _, mt := range []string{"text/dns", mtText} {
		c[mt] = openapi3.NewMediaType().WithSchema(compat.Described(openapi3.NewStringSchema(), "The file: a DNS zone, an iPXE script, an Ansible or Terraform file."))
	}
	r := content(o, "200", "The content, typed by the name's extension (.yaml, .json, .zone; else text/plain).", c)
	r.Headers = openapi3.Headers{
		"ETag":                  header("\"sha256:<hex>\" of the content.", openapi3.NewStringSchema()),
		"X-AMP-Inventory-Index": header("The inventory index it was rendered from.", openapi3.NewInt64Schema()),
	}
	b.Errors(o, false, false)
	b.Doc().Paths.Set("/provision/{site}/artifacts/{name}", &openapi3.PathItem{
		Parameters: openapi3.Parameters{siteParam(), pathParam("name", "The artifact's name as listed; it may hold '/' (e.g. netplan/<device>.yaml).")}, Get: o})
}

func ipamPaths(b compat.SpecBuilder, set *schema.ModelSet) {
	base := schema.RESTBase(set) + "/site/{site-id}"
	siteID := pathParam("site-id", "The inventory site's id.")
	prefixID := pathParam("prefix-id", "The parent prefix's id at the site.")
	limit := query("limit", "At most this many (default 50).", openapi3.NewInt32Schema().WithMin(1).WithMax(maxLimit).WithDefault(defaultLimit))
	site := set.Root.Child("site")
	entry := func(n *schema.Node) *openapi3.SchemaRef { full, _ := b.Entry(n); return b.Ref(full) }
	free := func(id, summary string, item *openapi3.Schema, params ...*openapi3.ParameterRef) *openapi3.Operation {
		o := operation(b, tagIPAM, id, summary, "")
		o.Parameters = params
		answer(o, "200", "What is free, lowest first.", val(arr(val(item), "")))
		b.Errors(o, false, false)
		return o
	}
	alloc := func(id, summary, desc string, created *openapi3.SchemaRef) *openapi3.Operation {
		o := operation(b, tagIPAM, id, summary, desc+" The chosen objects are created as ONE transaction, "+
			"chosen again when another writer took them first (a bounded number of times, then 503).")
		one := compat.Described(openapi3.NewObjectSchema(), "Members of one object to create (the allocation fills in what it chooses).")
		o.RequestBody = jsonBody(fmt.Sprintf("One object ({…}) or several ([{…}, …], at most %d).", ipam.MaxItems), val(&openapi3.Schema{OneOf: openapi3.SchemaRefs{
			val(one), val(arr(val(one), ""))}}))
		o.Parameters = append(openapi3.Parameters{b.ParamRef(paramDryRun)}, b.TxnHeaders()...)
		r := answer(o, "201", "Created: the object (or the list, for a list), as stored.", val(&openapi3.Schema{OneOf: openapi3.SchemaRefs{
			created, val(arr(created, ""))}}))
		r.Headers = b.CommittedHeaders()
		answer(o, "200", "dry-run=true: what would be created.", b.Ref(schemaAllocDryRun))
		b.Errors(o, true, false)
		o.Responses.Set("503", b.Problem(503))
		return o
	}
	addr := compat.Obj(map[string]*openapi3.Schema{"address": compat.Str("A free address."), "prefix-length": i32("The prefix's length.")}, "address", "prefix-length")
	b.Doc().Paths.Set(base+"/prefix/{prefix-id}/available-ips", &openapi3.PathItem{Parameters: openapi3.Parameters{siteID, prefixID},
		Get: free("getAvailableIps", "Free addresses of a prefix", addr, limit),
		Post: alloc("allocateIps", "Allocate addresses of a prefix",
			"Each object becomes an ip-address with the lowest free address of the prefix.", entry(set.Root.Child("ip-address")))})
	b.Doc().Paths.Set(base+"/prefix/{prefix-id}/available-prefixes", &openapi3.PathItem{Parameters: openapi3.Parameters{siteID, prefixID},
		Get: free("getAvailablePrefixes", "Free blocks of a prefix", compat.Obj(map[string]*openapi3.Schema{"prefix": compat.Str("A free block (CIDR).")}, "prefix")),
		Post: alloc("allocatePrefixes", "Allocate child prefixes of a prefix",
			"Each object ({\"prefix-id\": …, \"prefix-length\": n}) becomes a prefix of the site in the first free block of that length.", entry(site.Child("prefix")))})
	b.Doc().Paths.Set(base+"/available-vlans", &openapi3.PathItem{Parameters: openapi3.Parameters{siteID},
		Get: free("getAvailableVlans", "Free VLAN ids of a site", compat.Obj(map[string]*openapi3.Schema{"vid": i32("A free VLAN id.")}, "vid"), limit),
		Post: alloc("allocateVlans", "Allocate VLANs of a site",
			"Each object ({\"name\": …}) becomes a VLAN of the site with the lowest free id.", entry(site.Child("vlan")))})
}

func clusterPaths(b compat.SpecBuilder) {
	name := pathParam("name", "The declared cluster's id (inventory cluster list).")
	o := operation(b, tagClusters, "getClusterPlan", "The steps from what a cluster reports to its declaration", "")
	answer(o, "200", "The plan.", b.Ref(schemaPlan))
	b.Errors(o, false, false)
	b.Doc().Paths.Set("/clusters/{name}/plan", &openapi3.PathItem{Parameters: openapi3.Parameters{name}, Get: o})

	mint := operation(b, tagClusters, "mintClusterToken", "Mint a single-use registration token for a cluster's agent",
		fmt.Sprintf("Operators only. The secret is in this answer only; at most %d unexpired tokens per cluster (409 beyond).", cluster.MaxLive))
	ttl := compat.Obj(map[string]*openapi3.Schema{"ttl": compat.Str(fmt.Sprintf("How long it works: a Go duration from %s to %s (default %s).",
		cluster.MinTTL, cluster.MaxTTL, cluster.DefaultTTL))})
	mint.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(true).WithDescription("The lifetime ({} for the default).").WithJSONSchema(ttl)}
	answer(mint, "201", "Minted.", b.Ref(schemaMintedToken))
	b.Errors(mint, true, false)
	list := operation(b, tagClusters, "listClusterTokens", "A cluster's unused registration tokens", "")
	answer(list, "200", "The tokens, never their secrets.", val(arr(b.Ref(schemaToken), "")))
	b.Errors(list, false, false)
	b.Doc().Paths.Set("/clusters/{name}/tokens", &openapi3.PathItem{Parameters: openapi3.Parameters{name}, Get: list, Post: mint})

	del := operation(b, tagClusters, "revokeClusterToken", "Revoke an unused registration token", "Operators only.")
	answer(del, "200", "Revoked.", val(compat.Obj(map[string]*openapi3.Schema{"revoked": compat.Str("The token's id.")}, "revoked")))
	b.Errors(del, true, false)
	b.Doc().Paths.Set("/clusters/{name}/tokens/{id}", &openapi3.PathItem{Parameters: openapi3.Parameters{name, pathParam("id", "The token's id.")}, Delete: del})

	reg := operation(b, tagClusters, "registerCluster", "A cluster agent enrols with its token and a CSR",
		"Public: the single-use registration token in the body is the only credential. AMP's agent CA signs a client "+
			"certificate for the token's cluster (CN = its id, whatever the CSR asks); the private key stays at the site. "+
			"A missing or malformed CSR is refused (400, /csr) before the token is looked at, and consumes nothing. "+
			"A token used twice, expired or minted for another cluster than cluster names is refused (401) with the reason. "+
			"At most 10 attempts per source address a minute (503 with Retry-After beyond).")
	reg.Security = &openapi3.SecurityRequirements{}
	reg.RequestBody = jsonBody("The token and the CSR.", val(compat.Obj(map[string]*openapi3.Schema{
		"token":   compat.Str("The registration token (ampreg_…)."),
		"cluster": compat.Str("The cluster the agent means to enrol: a token of another cluster is refused."),
		"csr":     compat.Str("A PEM CERTIFICATE REQUEST for the agent's key: ECDSA P-256/P-384 or RSA of at least 2048 bits."),
	}, "token", "csr")))
	answer(reg, "201", "Enrolled (the registration is recorded in the cluster's state).", b.Ref(edgeapi.SchemaCredentials))
	for _, s := range []int{400, 401, 404, 500, 503} {
		reg.Responses.Set(strconv.Itoa(s), b.Problem(s))
	}
	b.Doc().Paths.Set("/clusters/register", &openapi3.PathItem{Post: reg})

	rev := operation(b, tagClusters, "revokeCluster", "Revoke every certificate of a cluster's agent",
		"Operators only; audited. The certificates stop working at once, on every replica; the agent enrols again with a new token. "+
			"Deleting the cluster revokes them too.")
	rev.RequestBody = jsonBody("Nothing ({}).", val(compat.Obj(map[string]*openapi3.Schema{})))
	answer(rev, "200", "Revoked.", val(compat.Obj(map[string]*openapi3.Schema{
		"cluster": compat.Str("The cluster."), "revoked": i32("How many certificates stopped working."), "note": compat.Str("What comes next."),
	}, "cluster", "revoked")))
	b.Errors(rev, true, false)
	b.Doc().Paths.Set("/clusters/{name}/revoke", &openapi3.PathItem{Parameters: openapi3.Parameters{name}, Post: rev})
}
