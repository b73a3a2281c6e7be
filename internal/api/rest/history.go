package rest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
)

func (s *Server) listTransactions(w http.ResponseWriter, r *http.Request) error {
	limit, hasLimit, err := queryUint(r, "limit")
	if err != nil {
		return err
	}
	if !hasLimit || limit > 10000 {
		limit = 100
	}
	before, _, err := queryUint(r, "before")
	if err != nil {
		return err
	}
	if err := s.authorize(r, auth.Read, "/transactions"); err != nil {
		return err
	}
	out, err := s.visibleTransactions(r, before, int(limit), r.URL.Query().Get("enterprise"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

// maxTransactionsExamined bounds the history one listing reads for a
// caller who may see little of it (a tenant whose last change is far
// behind the others'): a page may then come back short, and before= goes
// on from its oldest entry.
const maxTransactionsExamined = 20000

// visibleTransactions lists, newest first, up to limit transactions before
// the index before (0: the newest) that the caller may see. It pages by
// what the caller may see: older history is read until the page is full,
// so other tenants' activity never shows as a short page (which would
// tell of it).
func (s *Server) visibleTransactions(r *http.Request, before uint64, limit int, ent string) ([]config.TxnInfo, error) {
	out := []config.TxnInfo{}
	for examined := 0; len(out) < limit && examined < maxTransactionsExamined; {
		list, err := s.eng.ListTransactions(before, limit*4+16, ent)
		if err != nil {
			return nil, err
		}
		if len(list) == 0 {
			break
		}
		examined += len(list)
		for _, t := range list {
			before = t.Index
			if len(out) < limit && s.canSeeTxn(r, t) {
				out = append(out, t)
			}
		}
	}
	return out, nil
}

func pathIndex(r *http.Request) (uint64, error) {
	v := r.PathValue("index")
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n == 0 {
		return 0, schema.Errorf(schema.KindInvalid, "/transactions/"+v, "%q is not a transaction index (a positive integer)", v)
	}
	return n, nil
}

type txnDetail struct {
	config.TxnInfo
	Changes []config.Change `json:"changes"`
}

func (s *Server) getTransaction(w http.ResponseWriter, r *http.Request) error {
	n, err := pathIndex(r)
	if err != nil {
		return err
	}
	if err := s.authorize(r, auth.Read, "/transactions"); err != nil {
		return err
	}
	rec, err := s.eng.Transaction(n)
	if err != nil {
		return s.hideIndex(r, err, "/transactions/"+strconv.FormatUint(n, 10), "no transaction %d", n)
	}
	if !s.canSeeTxn(r, rec.Info(s.sch)) {
		return schema.Errorf(schema.KindNotFound, "/transactions/"+strconv.FormatUint(n, 10), "no transaction %d", n)
	}
	return writeJSON(w, http.StatusOK, txnDetail{TxnInfo: rec.Info(s.sch), Changes: nonNil(s.eng.Changes(rec))})
}

func (s *Server) rollback(w http.ResponseWriter, r *http.Request) error {
	n, err := pathIndex(r)
	if err != nil {
		return err
	}
	dry, err := queryBool(r, "dry-run")
	if err != nil {
		return err
	}
	rec, err := s.eng.Transaction(n)
	if err != nil {
		return s.hideIndex(r, err, "/transactions/"+strconv.FormatUint(n, 10), "no transaction %d", n)
	}
	if !s.canSeeTxn(r, rec.Info(s.sch)) {
		return schema.Errorf(schema.KindNotFound, "/transactions/"+strconv.FormatUint(n, 10), "no transaction %d", n)
	}
	if err := s.authorize(r, auth.Write, "/transactions"); err != nil && !s.mayWriteAll(r, s.eng.Changes(rec)) {
		// Not an operator, and not the writer of everything it would
		// change (an enterprise admin rolls back its own enterprise's
		// transactions, as it could write them again by hand).
		return err
	}
	req := s.request(r, dry)
	req.Rollback = n
	req.Source = "rollback"
	req.WantChanges = true
	if req.Message == "" {
		req.Message = "rollback of transaction " + strconv.FormatUint(n, 10)
	}
	res, err := s.eng.Submit(r.Context(), req)
	if err != nil {
		return err
	}
	if res.DryRun {
		return writeJSON(w, http.StatusOK, map[string]any{"dry-run": true, "changes": nonNil(res.Changes)})
	}
	setTxnHeaders(w, r, res)
	return writeJSON(w, http.StatusOK, res)
}

func (s *Server) diff(w http.ResponseWriter, r *http.Request) error {
	from, ok1, err := queryUint(r, "from")
	if err != nil {
		return err
	}
	to, ok2, err := queryUint(r, "to")
	if err != nil {
		return err
	}
	if !ok1 {
		return schema.Errorf(schema.KindInvalid, "?from", "from is required")
	}
	if !ok2 {
		to = s.eng.Snapshot().Index
	}
	if err := s.authorize(r, auth.Read, "/transactions"); err != nil {
		return err
	}
	ch, err := s.eng.Diff(from, to)
	if err != nil {
		return s.hideIndex(r, err, "?to", "index %d is not in the history", to)
	}
	visible := []config.Change{}
	for _, c := range ch {
		if s.canRead(r, c.Path) {
			visible = append(visible, c)
		}
	}
	out := map[string]any{"from": from, "to": to, "changes": visible}
	if !ok2 && !s.seesAllHistory(r) {
		delete(out, "to") // the newest index, which a tenant is not told
	}
	return writeJSON(w, http.StatusOK, out)
}

// watch streams committed transactions as newline-delimited JSON, from the
// index after ?from= (default: only new ones), for controllers and tools.
func (s *Server) watch(w http.ResponseWriter, r *http.Request) error {
	from, ok, err := queryUint(r, "from")
	if err != nil {
		return err
	}
	if !ok {
		from = s.eng.Snapshot().Index
	}
	if err := s.authorize(r, auth.Read, "/transactions"); err != nil {
		return err
	}
	wt, err := s.eng.Watch(r.Context(), from)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	enc := json.NewEncoder(w)
	idle := time.NewTicker(watchRecheckEvery)
	defer idle.Stop()
	for {
		var rec *config.Record
		open := true
		select {
		case rec, open = <-wt.C:
		case <-idle.C:
		}
		if !open {
			break
		}
		// A revoked token, an expired JWT or a right taken away ends the
		// stream: checked before each event, and now and then when idle.
		if r, err = s.recheck(r); err != nil {
			_ = enc.Encode(map[string]string{"error": err.Error()})
			return nil
		}
		if rec == nil {
			continue
		}
		if !s.canSeeTxn(r, rec.Info(s.sch)) {
			continue
		}
		if err := enc.Encode(txnDetail{TxnInfo: rec.Info(s.sch), Changes: nonNil(s.eng.Changes(rec))}); err != nil {
			return nil
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
	if err := wt.Err(); err != nil {
		_ = enc.Encode(map[string]string{"error": err.Error()})
	}
	return nil
}

// mayWriteAll reports whether the caller may write every path of changes
// (the policy decides each, as for a write of that path).
func (s *Server) mayWriteAll(r *http.Request, changes []config.Change) bool {
	if len(changes) == 0 {
		return false
	}
	p := auth.FromContext(r.Context())
	for _, c := range changes {
		if s.check(r.Context(), p, auth.Write, c.Path) != nil {
			return false
		}
	}
	return true
}
