package rollout

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// promClient asks Prometheus's HTTP API; bounded in time and size (the
// URL is an operator's, the answer is not trusted).
var promClient = &http.Client{Timeout: 10 * time.Second}

// maxPromAnswer bounds an answer read.
const maxPromAnswer = 4 << 20

// queryHolds evaluates a PromQL query now: it holds when the result is not
// empty and every value is non-zero. The reason says what was found.
func queryHolds(ctx context.Context, base, query string) (bool, string, error) {
	u := strings.TrimSuffix(base, "/") + "/api/v1/query?" + url.Values{"query": {query}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, "", err
	}
	resp, err := promClient.Do(req)
	if err != nil {
		return false, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPromAnswer))
	if err != nil {
		return false, "", err
	}
	var ans struct {
		Status    string `json:"status"`
		Error     string `json:"error"`
		ErrorType string `json:"errorType"`
		Data      struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return false, "", fmt.Errorf("%s answered %d, not Prometheus's API: %.200s", base, resp.StatusCode, body)
	}
	if ans.Status != "success" {
		return false, "", fmt.Errorf("%s: %s: %s", base, ans.ErrorType, ans.Error)
	}
	var values []string
	switch ans.Data.ResultType {
	case "vector":
		var v []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(ans.Data.Result, &v); err != nil {
			return false, "", err
		}
		for _, s := range v {
			values = append(values, fmt.Sprint(s.Value[1]))
		}
	case "scalar":
		var v [2]any
		if err := json.Unmarshal(ans.Data.Result, &v); err != nil {
			return false, "", err
		}
		values = append(values, fmt.Sprint(v[1]))
	default:
		return false, "", fmt.Errorf("the query gives a %s; a gate needs an instant vector or a scalar", ans.Data.ResultType)
	}
	if len(values) == 0 {
		return false, "the result is empty", nil
	}
	for _, s := range values {
		if f, err := strconv.ParseFloat(s, 64); err != nil || f == 0 {
			return false, "the result holds " + s, nil
		}
	}
	return true, fmt.Sprintf("holds (%s)", strings.Join(values, ", ")), nil
}
