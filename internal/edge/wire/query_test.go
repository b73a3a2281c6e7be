package wire

import "testing"

// TestIsLabelValuesAPI: the agent runs the label values API of one label
// only, never a path AMP's escaping would not produce.
func TestIsLabelValuesAPI(t *testing.T) {
	for api, want := range map[string]bool{
		LabelValuesAPI("cluster"):          true,
		LabelValuesAPI("__name__"):         true,
		LabelValuesAPI("a%2Fb"):            true,
		"/api/v1/label//values":            false,
		"/api/v1/label/../values":          false,
		"/api/v1/label/a/b/values":         false,
		"/api/v1/label/a/values?x=1":       false,
		"/api/v1/label/a/values/../../../": false,
		"/api/v1/labels":                   false,
		"/api/v1/admin/tsdb/delete_series": false,
	} {
		if got := IsLabelValuesAPI(api); got != want {
			t.Errorf("IsLabelValuesAPI(%q) = %v, want %v", api, got, want)
		}
	}
}
