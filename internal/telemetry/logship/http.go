package logship

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
)

// HTTPSink pushes to a Loki push endpoint, e.g.
// http://loki:3100/loki/api/v1/push or VictoriaLogs's
// http://vl:9428/insert/loki/api/v1/push. Any 2xx is delivered; anything
// else, or no answer, is an error (the batch is resent).
func HTTPSink(url string, hc *http.Client) Sink {
	if hc == nil {
		hc = &http.Client{}
	}
	return func(ctx context.Context, body []byte) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			return fmt.Errorf("log store answered %s: %s", resp.Status, bytes.TrimSpace(msg))
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
}
