package monitor

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// LogLabels are the only labels AMP's log streams carry (low cardinality
// by design, docs/logging.md), so the only ones a log query may select on.
var LogLabels = map[string]bool{"component": true, "cluster": true, "site": true, "enterprise": true}

// LogQuery is the LogQL subset AMP accepts: a stream selector and line
// filters, e.g. {cluster="ace-x", component=~"helm|agent"} |= "timeout" != "retry".
type LogQuery struct {
	Matchers []LabelMatcher
	Filters  []LineFilter
}

// LabelMatcher is label op "value", op one of = != =~ !~.
type LabelMatcher struct{ Label, Op, Value string }

// LineFilter is op "value", op one of |= != |~ !~.
type LineFilter struct{ Op, Value string }

// Bounds of a log query's text.
const (
	maxLogQuery   = 4 << 10
	maxLogFilters = 16
)

// ParseLogQuery parses the LogQL subset; anything beyond it (parsers,
// label filters, formatting, metric queries) is refused with what and
// where.
func ParseLogQuery(q string) (*LogQuery, error) {
	if len(q) > maxLogQuery {
		return nil, fmt.Errorf("%d bytes: at most %d", len(q), maxLogQuery)
	}
	p := &logParser{s: q}
	out := &LogQuery{}
	p.space()
	if !p.eat("{") {
		return nil, p.errorf("a log query starts with a stream selector such as {cluster=\"ace-x\"}; metric queries (rate, count_over_time, ...) are not supported")
	}
	for {
		p.space()
		if p.eat("}") {
			break
		}
		if len(out.Matchers) > 0 && !p.eat(",") {
			return nil, p.errorf("want , or } in the stream selector")
		}
		p.space()
		label := p.ident()
		if label == "" {
			return nil, p.errorf("want a label name")
		}
		if !LogLabels[label] {
			return nil, p.errorf("label %q is not one of AMP's log labels (component, cluster, site, enterprise)", label)
		}
		p.space()
		op := p.oneOf("=~", "!~", "!=", "=")
		if op == "" {
			return nil, p.errorf("want =, !=, =~ or !~ after %s", label)
		}
		p.space()
		v, err := p.str()
		if err != nil {
			return nil, err
		}
		if op == "=~" || op == "!~" {
			if _, err := regexp.Compile("^(?:" + v + ")$"); err != nil {
				return nil, p.errorf("%s%s: %v", label, op, err)
			}
		}
		out.Matchers = append(out.Matchers, LabelMatcher{label, op, v})
	}
	for {
		p.space()
		if p.done() {
			break
		}
		op := p.oneOf("|=", "!=", "|~", "!~")
		if op == "" {
			return nil, p.errorf("only line filters (|= != |~ !~ \"text\") may follow the selector; parsers, label filters and formatting are not supported")
		}
		if len(out.Filters) == maxLogFilters {
			return nil, p.errorf("at most %d line filters", maxLogFilters)
		}
		p.space()
		v, err := p.str()
		if err != nil {
			return nil, err
		}
		if op == "|~" || op == "!~" {
			if _, err := regexp.Compile(v); err != nil {
				return nil, p.errorf("%s: %v", op, err)
			}
		}
		out.Filters = append(out.Filters, LineFilter{op, v})
	}
	return out, nil
}

// Restrict confines q to tenant's streams: a matcher on enterprise must
// be enterprise="<tenant>" (anything else is refused, never rewritten),
// and one is added if absent.
func (q *LogQuery) Restrict(tenant string) error {
	has := false
	for _, m := range q.Matchers {
		if m.Label != TenantLabel {
			continue
		}
		if m.Op != "=" || m.Value != tenant {
			return fmt.Errorf("%s%s%q: your streams are %s=%q only", m.Label, m.Op, m.Value, TenantLabel, tenant)
		}
		has = true
	}
	if !has {
		q.Matchers = append(q.Matchers, LabelMatcher{TenantLabel, "=", tenant})
	}
	return nil
}

// Bounded reports why q would scan every stream, or "": LogQL's own rule,
// at least one matcher that the empty value does not satisfy.
func (q *LogQuery) Bounded() string {
	for _, m := range q.Matchers {
		switch m.Op {
		case "=":
			if m.Value != "" {
				return ""
			}
		case "=~":
			if !regexp.MustCompile("^(?:" + m.Value + ")$").MatchString("") {
				return ""
			}
		}
	}
	return "the stream selector matches every stream: give at least one matcher that does not match the empty value, such as {cluster=\"ace-x\"}"
}

// LogsQL is q in VictoriaLogs's LogsQL: the same stream filter, and each
// line filter as a regular-expression filter on the message (|= "x" as
// ~"<x quoted>", so it matches a substring as LogQL does).
func (q *LogQuery) LogsQL() string {
	var b strings.Builder
	b.WriteString("{")
	for i, m := range q.Matchers {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(m.Label + m.Op + strconv.Quote(m.Value))
	}
	b.WriteString("}")
	for _, f := range q.Filters {
		switch f.Op {
		case "|=":
			b.WriteString(" ~" + strconv.Quote(regexp.QuoteMeta(f.Value)))
		case "!=":
			b.WriteString(" !~" + strconv.Quote(regexp.QuoteMeta(f.Value)))
		case "|~":
			b.WriteString(" ~" + strconv.Quote(f.Value))
		case "!~":
			b.WriteString(" !~" + strconv.Quote(f.Value))
		}
	}
	return b.String()
}

type logParser struct {
	s string
	i int
}

func (p *logParser) done() bool { return p.i >= len(p.s) }

func (p *logParser) errorf(format string, a ...any) error {
	return fmt.Errorf("at offset %d: %s", p.i, fmt.Sprintf(format, a...))
}

func (p *logParser) space() {
	for p.i < len(p.s) && strings.ContainsRune(" \t\r\n", rune(p.s[p.i])) {
		p.i++
	}
}

func (p *logParser) eat(t string) bool {
	if strings.HasPrefix(p.s[p.i:], t) {
		p.i += len(t)
		return true
	}
	return false
}

func (p *logParser) oneOf(ts ...string) string {
	for _, t := range ts {
		if p.eat(t) {
			return t
		}
	}
	return ""
}

func (p *logParser) ident() string {
	j := p.i
	for j < len(p.s) {
		c := p.s[j]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || j > p.i && c >= '0' && c <= '9' {
			j++
			continue
		}
		break
	}
	id := p.s[p.i:j]
	p.i = j
	return id
}

// str reads a "double-quoted" (Go escapes) or `raw` string.
func (p *logParser) str() (string, error) {
	if p.done() || (p.s[p.i] != '"' && p.s[p.i] != '`') {
		return "", p.errorf("want a quoted string")
	}
	q, err := strconv.QuotedPrefix(p.s[p.i:])
	if err != nil {
		return "", p.errorf("an unterminated or malformed string")
	}
	v, err := strconv.Unquote(q)
	if err != nil {
		return "", p.errorf("%v", err)
	}
	p.i += len(q)
	return v, nil
}
