// Package client is the Go client of AMP's REST API, the one the amp
// command-line verbs use to talk to an `amp serve` platform.
//
// Create a client with the server's base URL and an API token:
//
//	c := client.New("https://127.0.0.1:8181", token, client.WithVersion("1.2.0"),
//		client.WithCA(os.Getenv("AMP_CA")))
//	raw, hdr, err := c.Get(ctx, "/aether/v2.1.x/acme/site", nil)
//
// `amp serve` speaks HTTPS; on a dev machine its certificate comes from the
// local CA in <data-dir>/tls/ca.crt, which WithCA trusts (besides the
// system's roots). WithClientCert presents a client certificate to a server
// that requires mutual TLS.
//
// Model paths are the REST paths of the YANG-derived API,
// /aether/v2.1.x/{enterprise-id}/…; a list answers a JSON array (page
// through it with the "limit" and "continue" query parameters and the
// X-AMP-Continue response header, or use GetAll), an entry a JSON object
// and a leaf a JSON value.
//
// Writes (Post = merge with aether-roc-api's rules, Put = replace, Patch =
// JSON merge patch where null deletes, Delete) each run as one server
// transaction and return a *WriteResult with the transaction's index and
// id. With dryRun set the server validates the write and answers the
// changes it would make without committing anything; WriteResult.Changes
// holds them. A committed write's changes are read back with Transaction.
// PatchTopLevel sends aether-roc-api's PATCH /aether-roc-api body
// ({"default-target", "Updates", "Deletes"}), which applies updates and
// deletes for any number of enterprises as ONE transaction.
//
// A body may be any value (encoded with encoding/json), a []byte or
// json.RawMessage holding JSON already, an io.Reader streaming JSON, or a
// Stream (a reader with a known length, sent with a Content-Length).
//
// Every error the server answers is an *Error built from its RFC 7807
// application/problem+json body: Status is the HTTP status, Message the
// server's message and Problems the individual problems, each naming the
// path it concerns:
//
//	var ce *client.Error
//	if errors.As(err, &ce) {
//		for _, p := range ce.Problems {
//			fmt.Println(p.Path, p.Reason)
//		}
//	}
//
// Requests carry "Authorization: Bearer <token>", a User-Agent of
// "amp-cli/<version>" and an X-AMP-Source header ("cli" by default,
// WithSource("import") for bulk imports) that labels the transactions they
// create in the history; WithMessage adds a commit message
// (X-AMP-Message).
package client
