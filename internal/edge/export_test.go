package edge

// Waiting is the number of requests waiting on a cluster's state: tests
// check that a commit answered only the right ones.
func (h *Hub) Waiting(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e := h.entries[id]; e != nil {
		return len(e.waiters)
	}
	return 0
}

// Processed is the index of the newest transaction the hub's watch has
// applied.
func (h *Hub) Processed() uint64 { return h.processed.Load() }

// StatesProcessed is the number of operational state writes the hub's
// state watch has applied.
func (h *Hub) StatesProcessed() uint64 { return h.states.Load() }
