package proxy

import "sync"

// inflight is a request awaiting its response.
type inflight struct {
	corr    int32
	key     int16
	version int16
}

// queue is an unbounded FIFO of the requests in flight on a connection,
// in the order they were sent: a ring that grows, so a client may
// pipeline as many requests as it likes and nothing blocks. Steady state
// allocates nothing.
type queue struct {
	mu   sync.Mutex
	ring []inflight
	head int // index of the oldest
	n    int
}

func (q *queue) push(e inflight) {
	q.mu.Lock()
	if q.n == len(q.ring) {
		bigger := make([]inflight, max(16, 2*len(q.ring)))
		for i := 0; i < q.n; i++ {
			bigger[i] = q.ring[(q.head+i)%len(q.ring)]
		}
		q.ring, q.head = bigger, 0
	}
	q.ring[(q.head+q.n)%len(q.ring)] = e
	q.n++
	q.mu.Unlock()
}

func (q *queue) pop() (inflight, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		return inflight{}, false
	}
	e := q.ring[q.head]
	q.head = (q.head + 1) % len(q.ring)
	q.n--
	return e, true
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}
