package openapi

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/amp-edge/amp/internal/schema"
)

// modelSet adds the component schemas and paths of one model set:
//
//	{root}/<list>                 GET (collection)
//	{root}/<list>/{key}...        GET POST PUT PATCH DELETE
//	.../<container>               GET POST PUT PATCH DELETE
//	.../<leafref leaf>/values     GET
//
// where {root} is /{rest-prefix}/v{version}/{tenant} for a tenant
// set and /{rest-prefix}/v{version} for a global one. Config false
// subtrees are GET only.
func (b *builder) modelSet(set *schema.ModelSet) error {
	b.buildSchemas(set.Root)
	base, params := b.setRoot(set)
	used := map[string]bool{}
	for _, p := range params {
		used[p.Value.Name] = true
	}
	return b.walkPaths(set.Root, base, params, used, "")
}

// setRoot is the path of a set's root and the parameters it takes: the
// tenant for a tenant set, none for a global one.
func (b *builder) setRoot(set *schema.ModelSet) (string, []*openapi3.ParameterRef) {
	base := "/" + set.RESTPrefix + "/v" + set.Version
	if set.Global() {
		return base, nil
	}
	return base + "/{" + ParamEnterpriseID + "}", []*openapi3.ParameterRef{b.paramRef(ParamEnterpriseID)}
}

func (b *builder) walkPaths(n *schema.Node, path string, params []*openapi3.ParameterRef, used map[string]bool, tag string) error {
	for _, c := range n.Children {
		t := tag
		if n.Kind == schema.Root {
			name := b.full[c]
			if name == "" {
				name = pascal(c.Name)
			}
			t = b.tag(name, joinDesc(oneLine(c.Description), fmt.Sprintf("Model set %s %s, %s", c.Set.Name, c.Set.Version, c.SchemaPath())))
		}
		switch c.Kind {
		case schema.Leaf:
			if c.Type.Base == schema.TLeafref || c.Ref != nil {
				b.valuesPath(c, path+"/"+c.Name+"/values", params, t)
			}
		case schema.Container:
			p := path + "/" + c.Name
			item := &openapi3.PathItem{Parameters: cloneParams(params)}
			b.nodeOps(item, c, t)
			if err := b.addPath(p, item); err != nil {
				return err
			}
			if err := b.walkPaths(c, p, params, used, t); err != nil {
				return err
			}
		case schema.List:
			coll := path + "/" + c.Name
			item := &openapi3.PathItem{Parameters: cloneParams(params)}
			item.Get = b.getOp(c, t, true)
			if err := b.addPath(coll, item); err != nil {
				return err
			}
			entry := coll
			eparams := cloneParams(params)
			eused := make(map[string]bool, len(used)+len(c.Keys))
			for k := range used {
				eused[k] = true
			}
			for _, k := range c.Keys {
				name := k
				for i := 2; eused[name]; i++ {
					name = k + "-" + strconv.Itoa(i)
				}
				eused[name] = true
				entry += "/{" + name + "}"
				eparams = append(eparams, &openapi3.ParameterRef{Value: b.keyParam(c, c.Child(k), name)})
			}
			item = &openapi3.PathItem{Parameters: cloneParams(eparams)}
			b.nodeOps(item, c, t)
			if err := b.addPath(entry, item); err != nil {
				return err
			}
			if err := b.walkPaths(c, entry, eparams, eused, t); err != nil {
				return err
			}
		}
	}
	return nil
}

func cloneParams(ps []*openapi3.ParameterRef) openapi3.Parameters {
	return append(openapi3.Parameters(nil), ps...)
}

func (b *builder) addPath(p string, item *openapi3.PathItem) error {
	if b.doc.Paths.Value(p) != nil {
		return fmt.Errorf("openapi: path %s generated twice", p)
	}
	b.doc.Paths.Set(p, item)
	return nil
}

func (b *builder) keyParam(list, key *schema.Node, name string) *openapi3.Parameter {
	s, _ := typeSchema(key.Type)
	p := openapi3.NewPathParameter(name).WithSchema(s)
	p.Description = fmt.Sprintf("Key %s of list %s (URL path-escaped).", key.Name, list.SchemaPath())
	return p
}

// nodeOps sets the operations of a list entry or container path.
func (b *builder) nodeOps(item *openapi3.PathItem, n *schema.Node, tag string) {
	item.Get = b.getOp(n, tag, false)
	if !n.Config {
		return
	}
	item.Post = b.writeOp(http.MethodPost, n, tag)
	item.Put = b.writeOp(http.MethodPut, n, tag)
	item.Patch = b.writeOp(http.MethodPatch, n, tag)
	item.Delete = b.writeOp(http.MethodDelete, n, tag)
}

func what(n *schema.Node) string {
	if n.Kind == schema.List {
		return "entry of list " + n.SchemaPath()
	}
	return "container " + n.SchemaPath()
}

func (b *builder) getOp(n *schema.Node, tag string, collection bool) *openapi3.Operation {
	name := b.full[n]
	op := &openapi3.Operation{Tags: []string{tag}, Responses: openapi3.NewResponses()}
	body := b.ref(name)
	if collection {
		op.OperationID = b.opID("list" + name)
		op.Summary = "List the entries of " + n.SchemaPath()
		op.Description = "Returns the entries in key order, or in the order `sort` names. Page with `limit` and `continue` (the next page's token is in the " + HeaderContinue + " response header, absent on the last page); select with `filter`."
		op.Parameters = openapi3.Parameters{b.paramRef(ParamLimit), b.paramRef(ParamContinue), b.paramRef(ParamFilter), b.paramRef(ParamSort)}
		arr := openapi3.NewArraySchema()
		arr.Items = body
		body = &openapi3.SchemaRef{Value: arr}
	} else {
		op.OperationID = b.opID("get" + name)
		op.Summary = "Read the " + what(n)
	}
	op.Parameters = append(op.Parameters, b.paramRef(ParamAt), b.paramRef(ParamWithDefaults))
	ok := openapi3.NewResponse().WithDescription("The current (or, with `at`, historical) value.").WithJSONSchemaRef(body)
	ok.Headers = openapi3.Headers{HeaderETag: b.headerRef(HeaderETag), HeaderIndex: b.headerRef(HeaderIndex)}
	if collection {
		ok.Headers[HeaderContinue] = b.headerRef(HeaderContinue)
	}
	op.Responses.Set("200", &openapi3.ResponseRef{Value: ok})
	b.errors(op, false, true)
	return op
}

func (b *builder) writeOp(method string, n *schema.Node, tag string) *openapi3.Operation {
	name := b.full[n]
	op := &openapi3.Operation{Tags: []string{tag}, Responses: openapi3.NewResponses()}
	op.Parameters = append(openapi3.Parameters{b.paramRef(ParamDryRun), b.paramRef(HeaderIfMatch)}, b.txnHeaders()...)
	txnOrDry := b.txnOrDryRun(schemaTxnID)
	committed := func(status, desc string, s *openapi3.SchemaRef) {
		r := openapi3.NewResponse().WithDescription(desc).WithJSONSchemaRef(s)
		r.Headers = b.committedHeaders()
		op.Responses.Set(status, &openapi3.ResponseRef{Value: r})
	}
	switch method {
	case http.MethodPost:
		op.OperationID = b.opID("post" + name)
		op.Summary = "Create or merge into the " + what(n)
		op.Description = "Merges the body into the current value (creating it if missing). Mandatory members the client deliberately leaves out may be listed in `additionalProperties.unchanged`."
		op.RequestBody = b.jsonBody(name, "The new value, merged into the current one.")
		committed("201", "Committed: the transaction id.", b.ref(schemaTxnID))
		op.Responses.Set("200", &openapi3.ResponseRef{Value: openapi3.NewResponse().
			WithDescription("With `dry-run=true`: what the transaction would do; nothing is committed.").
			WithJSONSchemaRef(b.ref(schemaDryRun))})
	case http.MethodPut:
		op.OperationID = b.opID("put" + name)
		op.Summary = "Replace the " + what(n)
		op.RequestBody = b.jsonBody(name, "The complete new value; members not sent are deleted.")
		committed("200", "Committed: the transaction id (with `dry-run=true`: a DryRunResult).", txnOrDry)
	case http.MethodPatch:
		op.OperationID = b.opID("patch" + name)
		op.Summary = "Apply a JSON merge patch (RFC 7396) to the " + what(n)
		patch := openapi3.NewObjectSchema()
		patch.Description = fmt.Sprintf("A JSON merge patch of %s: members as in that schema; null deletes a member.", name)
		rb := openapi3.NewRequestBody().WithRequired(true).
			WithContent(openapi3.NewContentWithSchema(patch, []string{mtMergePatch, mtJSON}))
		op.RequestBody = &openapi3.RequestBodyRef{Value: rb}
		committed("200", "Committed: the transaction id (with `dry-run=true`: a DryRunResult).", txnOrDry)
	case http.MethodDelete:
		op.OperationID = b.opID("delete" + name)
		op.Summary = "Delete the " + what(n)
		committed("200", "Committed: the transaction id (with `dry-run=true`: a DryRunResult).", txnOrDry)
	}
	b.errors(op, true, false)
	return op
}

func (b *builder) jsonBody(name, desc string) *openapi3.RequestBodyRef {
	return &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(true).
		WithDescription(desc).WithJSONSchemaRef(b.ref(name))}
}

// errors adds the problem responses every operation lists.
func (b *builder) errors(op *openapi3.Operation, write, history bool) {
	statuses := []int{400, 401, 403, 404, 409, 500}
	if write {
		statuses = append(statuses, 412, 422)
	}
	if history {
		statuses = append(statuses, 410)
	}
	for _, s := range statuses {
		op.Responses.Set(strconv.Itoa(s), b.respRef(problemResponses[s]))
	}
}

// valuesPath adds GET .../<leaf>/values for a leafref leaf.
func (b *builder) valuesPath(n *schema.Node, p string, params []*openapi3.ParameterRef, tag string) {
	owner := b.full[n.Parent]
	id := "getValues" + pascal(n.Name)
	if owner != "" {
		id = "getValues" + owner + "_" + pascal(n.Name)
	}
	target := n.Type.LeafrefPath
	if n.Type.Target != nil {
		target = n.Type.Target.SchemaPath()
	}
	op := &openapi3.Operation{
		Tags:        []string{tag},
		OperationID: b.opID(id),
		Summary:     "Valid values of " + n.SchemaPath(),
		Description: fmt.Sprintf("The values the leafref %s may take: the existing %s values (path %q), as strings.", n.SchemaPath(), target, n.Type.LeafrefPath),
		Responses:   openapi3.NewResponses(),
		Parameters:  openapi3.Parameters{b.paramRef(ParamAt)},
	}
	if r := n.Ref; r != nil {
		op.Description = fmt.Sprintf("The values the reference %s may take: the existing %s values of model set %s %s (%s) that the caller may read.",
			n.SchemaPath(), r.Key.SchemaPath(), r.Set.Name, r.Set.Version, refWhere(n))
	}
	op.Responses.Set("200", &openapi3.ResponseRef{Value: openapi3.NewResponse().
		WithDescription("The valid choices.").WithJSONSchemaRef(b.ref(schemaValues))})
	b.errors(op, false, true)
	item := &openapi3.PathItem{Parameters: cloneParams(params), Get: op}
	if b.doc.Paths.Value(p) == nil {
		b.doc.Paths.Set(p, item)
	}
}

// txnHeaders are the optional request headers of every write.
func (b *builder) txnHeaders() openapi3.Parameters {
	return openapi3.Parameters{b.paramRef(HeaderSource), b.paramRef(HeaderMessage)}
}

// committedHeaders are the headers of a committed write's response.
func (b *builder) committedHeaders() openapi3.Headers {
	return openapi3.Headers{HeaderTxnIndex: b.headerRef(HeaderTxnIndex), HeaderTxnID: b.headerRef(HeaderTxnID)}
}

// txnOrDryRun is the 200 body of a write that may be a dry run.
func (b *builder) txnOrDryRun(committed string) *openapi3.SchemaRef {
	return &openapi3.SchemaRef{Value: &openapi3.Schema{OneOf: openapi3.SchemaRefs{b.ref(committed), b.ref(schemaDryRun)}}}
}

// refWhere says where a reference looks, for the description of its
// values path.
func refWhere(n *schema.Node) string {
	switch r := n.Ref; {
	case r.Global():
		return "global"
	case r.TenantLeaf != nil:
		return "in the enterprise the entry's " + strings.Join(r.TenantLeaf, "/") + " names"
	default:
		return "in the same enterprise"
	}
}
