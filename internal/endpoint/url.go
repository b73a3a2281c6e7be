// Package endpoint is AMP's policy for the backends it connects to (SD-Core
// configuration APIs, UPF configuration endpoints, gNMI targets): which URLs
// are well formed, which backends the operator granted to which enterprise
// (Registry), which network addresses AMP may connect to at all (Network,
// checked on every connection, after DNS resolution), and how a backend's
// answer is reported without relaying it (BackendError).
//
// Backends belong to the operator; a tenant only chooses among the backends
// granted to its enterprise. The package imports only the standard library
// and Prometheus, so every adapter can use it.
package endpoint

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Kinds of backends, as the models' ampx:backend-endpoint names them.
const (
	Core = "core" // an SD-Core configuration API (webconsole), with its /config prefix
	UPF  = "upf"  // a UPF's configuration endpoint
)

// ParseURL checks that raw is a URL AMP may append its API paths to: http or
// https, a host, and no user information, query or fragment (a "#" would
// turn the path AMP appends into a fragment, a "?" into a query). It returns
// the URL in its normal form, without a trailing slash, which is the form
// grants are compared in.
func ParseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%q is not a URL", raw)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("%q: the scheme must be http or https", raw)
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return "", fmt.Errorf("%q: a backend URL needs a host (scheme://host[:port][/path])", raw)
	case u.User != nil:
		return "", fmt.Errorf("%q: a backend URL may not carry user information", raw)
	case u.RawQuery != "" || u.ForceQuery:
		return "", fmt.Errorf("%q: a backend URL may not have a query", raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "", fmt.Errorf("%q: a backend URL may not have a fragment", raw)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			return "", fmt.Errorf("%q: port %s is not 1..65535", raw, p)
		}
	}
	u.Host = strings.ToLower(u.Host)
	return strings.TrimRight(u.String(), "/"), nil
}
