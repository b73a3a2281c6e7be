package config

// WithoutRules runs fn with no rules registered: the baseline of the
// benchmarks that measure what the rules of a set cost.
func WithoutRules(fn func()) {
	rules.mu.Lock()
	saved := rules.bySet
	rules.bySet = nil
	rules.mu.Unlock()
	defer func() {
		rules.mu.Lock()
		rules.bySet = saved
		rules.mu.Unlock()
	}()
	fn()
}
