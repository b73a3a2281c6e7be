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
// http://vl:9428/insert/loki/api/v1/push. Any 2xx is delivered; 400 and
// 413 are refusals of the batch itself (ErrRefused: dropped, counted);
// anything else, or no answer, is an error (the batch is resent).
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
			err := fmt.Errorf("log store answered %s: %s", resp.Status, bytes.TrimSpace(msg))
			if RefusedStatus(resp.StatusCode) {
				err = fmt.Errorf("%w: %w", ErrRefused, err)
			}
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
}

// RefusedStatus reports whether an HTTP status refuses a push body as it
// is (400, 413), so that resending it cannot succeed; an authorization
// failure is not one: the batch waits for the credentials to be fixed.
func RefusedStatus(code int) bool {
	return code == http.StatusBadRequest || code == http.StatusRequestEntityTooLarge
}
