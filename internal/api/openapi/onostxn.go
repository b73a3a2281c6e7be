package openapi

import "github.com/getkin/kin-openapi/openapi3"

// schemaOnosTxn is onos-config's Transaction as aether-roc-api serves it at
// GET /transactions (aether-top-level-openapi3.yaml); the name is the one
// Aether's generated clients use.
const schemaOnosTxn = "Transaction"

// onosTransactionSchema describes what GET /transactions returns, field for
// field as aether-roc-api renders onos-config's Transaction.
func onosTransactionSchema() *openapi3.Schema {
	enum := func(desc string, vals ...any) *openapi3.Schema {
		return withDesc(openapi3.NewStringSchema().WithEnum(vals...), desc)
	}
	at := func(desc string) *openapi3.Schema { return withDesc(openapi3.NewDateTimeSchema(), desc) }
	arr := func(items *openapi3.Schema, desc string) *openapi3.Schema {
		a := openapi3.NewArraySchema()
		a.Items = &openapi3.SchemaRef{Value: items}
		return withDesc(a, desc)
	}
	times := obj(map[string]*openapi3.Schema{"start": at("Phase start."), "end": at("Phase end.")})
	phase := func(states ...any) *openapi3.Schema {
		return obj(map[string]*openapi3.Schema{"state": enum("Phase state.", states...), "status": times})
	}
	typed := obj(map[string]*openapi3.Schema{
		"value":     str("The value in onos-config's string form (leaf-lists: comma-separated)."),
		"type":      enum("The value type.", "EMPTY", "STRING", "INT", "UINT", "BOOL", "DECIMAL", "FLOAT", "BYTES", "LEAFLIST_STRING", "LEAFLIST_INT", "LEAFLIST_UINT", "LEAFLIST_BOOL", "LEAFLIST_DECIMAL", "LEAFLIST_FLOAT", "LEAFLIST_BYTES"),
		"type_opts": arr(openapi3.NewInt32Schema(), "Type options (always empty in AMP)."),
	})
	pathValue := obj(map[string]*openapi3.Schema{
		"path":    str("gNMI path inside the target."),
		"value":   typed,
		"deleted": withDesc(openapi3.NewBoolSchema(), "True when the path was deleted."),
	})
	pathTarget := obj(map[string]*openapi3.Schema{"path": str("gNMI path inside the target (/site[site-id=s1]/upf[upf-id=u1]/port)."), "path-value": pathValue})
	changeTarget := obj(map[string]*openapi3.Schema{
		"target-name": str("The enterprise (target)."),
		"path-values": arr(pathTarget, "Every leaf the transaction set or deleted in this target."),
	})
	return withDesc(obj(map[string]*openapi3.Schema{
		"id":    str("Transaction id."),
		"index": i64("Position in the transaction log."),
		"meta": obj(map[string]*openapi3.Schema{
			"key":      str("The transaction id."),
			"version":  i64("The index."),
			"revision": i64("The index."),
			"created":  at("Commit time."),
			"updated":  at("Commit time."),
		}),
		"username": str("Who made the change."),
		"strategy": obj(map[string]*openapi3.Schema{
			"synchronicity": enum("Always SYNCHRONOUS: a write is answered once committed.", "ASYNCHRONOUS", "SYNCHRONOUS"),
			"isolation":     enum("Isolation level.", "DEFAULT", "SERIALIZABLE"),
		}),
		"details": obj(map[string]*openapi3.Schema{
			"change":   arr(changeTarget, "One entry per target changed (never empty)."),
			"rollback": obj(map[string]*openapi3.Schema{"rollback_index": i64("For a rollback, the index undone; otherwise 0.")}),
		}),
		"status": obj(map[string]*openapi3.Schema{
			"state":     enum("APPLIED: committed to AMP's store (GET /sync-status says what the backends took).", "PENDING", "VALIDATED", "APPLIED", "FAILED"),
			"proposals": arr(openapi3.NewStringSchema(), "Always empty in AMP."),
			"phases": obj(map[string]*openapi3.Schema{
				"initialize": phase("INITIALIZING", "INITIALIZED", "FAILED"),
				"validate":   phase("VALIDATING", "VALIDATED", "FAILED"),
				"commit":     phase("COMMITTING", "COMMITTED"),
				"apply":      phase("APPLYING", "APPLIED", "FAILED"),
			}),
		}),
	}, "id", "index", "meta"), "A committed transaction in onos-config's shape, as aether-roc-api's GET /transactions returns it.")
}
