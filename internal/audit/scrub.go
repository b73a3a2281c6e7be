package audit

import (
	"regexp"
	"strings"
)

// Redacted replaces every secret the scrubber finds.
const Redacted = "[REDACTED]"

var (
	// API tokens: amp_<id>_<secret>; any word starting amp_ is treated as one.
	apiToken = regexp.MustCompile(`amp_[A-Za-z0-9_\-]+`)
	// JWTs and JOSE objects: base64url JSON headers start with "eyJ".
	jwt = regexp.MustCompile(`eyJ[A-Za-z0-9_\-]*(?:\.[A-Za-z0-9_\-]*){0,4}`)
	// Authorization header values.
	authz = regexp.MustCompile(`(?i)\b(bearer|basic)\s+[^\s,;"']+`)
	// key=value, key: value, "key":"value" where the key names a secret.
	secretKV = regexp.MustCompile(`(?i)("?[A-Za-z0-9_.\-]*(?:password|passwd|secret|token|key|credential)[A-Za-z0-9_.\-]*"?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s,;&}]+)`)
	// URL userinfo: scheme://user:password@host.
	userinfo = regexp.MustCompile(`(://[^/\s:@]+:)[^@\s/]+@`)
)

// SecretKey reports whether a field name names a secret (password, secret,
// key, token, credential, in any case, anywhere in the name).
func SecretKey(k string) bool {
	k = strings.ToLower(k)
	for _, w := range []string{"password", "passwd", "secret", "key", "token", "credential"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// ScrubString removes secrets from free text.
func ScrubString(s string) string {
	if s == "" {
		return s
	}
	s = authz.ReplaceAllString(s, "$1 "+Redacted)
	s = apiToken.ReplaceAllString(s, Redacted)
	s = jwt.ReplaceAllString(s, Redacted)
	s = secretKV.ReplaceAllString(s, "${1}"+Redacted)
	s = userinfo.ReplaceAllString(s, "${1}"+Redacted+"@")
	return s
}

// Scrub returns r with every secret removed from the values a caller
// chose: the paths, the reason and Details (values under secret-looking
// keys are replaced whole). Identities — principal, groups, source, how
// they authenticated — are kept as they are: they are names, not secrets,
// and scrubbing them would let a principal named like a token ("amp_…",
// "eyJ…") act without attribution.
func Scrub(r Record) Record {
	r.Reason = ScrubString(r.Reason)
	r.Paths = scrubStrings(r.Paths)
	if r.Details != nil {
		r.Details = scrubMap(r.Details)
	}
	return r
}

func scrubStrings(in []string) []string {
	if in == nil {
		return nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = ScrubString(s)
	}
	return out
}

func scrubMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if SecretKey(k) {
			out[ScrubString(k)] = Redacted
			continue
		}
		out[ScrubString(k)] = scrubValue(v)
	}
	return out
}

func scrubValue(v any) any {
	switch x := v.(type) {
	case string:
		return ScrubString(x)
	case []string:
		return scrubStrings(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = scrubValue(e)
		}
		return out
	case map[string]any:
		return scrubMap(x)
	case map[string]string:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if SecretKey(k) {
				out[ScrubString(k)] = Redacted
			} else {
				out[ScrubString(k)] = ScrubString(e)
			}
		}
		return out
	case nil, bool, int, int32, int64, uint, uint32, uint64, float32, float64:
		return x
	default:
		// Unknown types could hide anything: keep only their kind.
		return "[unrecorded value]"
	}
}
