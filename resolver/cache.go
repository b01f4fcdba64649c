package resolver

import (
	"context"
	"sync"
	"time"
)

type qkey struct {
	name  string
	qtype uint16
}

// cache keeps upstream answers until their TTL runs out, negative ones
// included, and makes concurrent askers of one question share one query.
type cache struct {
	mu     sync.Mutex
	max    int
	m      map[qkey]*answer
	flight map[qkey]*call
	now    func() time.Time
	// timeout bounds a fetch, which runs detached from the callers.
	timeout time.Duration
}

type call struct {
	done chan struct{}
	a    *answer
	err  error
}

func newCache(max int, timeout time.Duration) *cache {
	return &cache{max: max, m: map[qkey]*answer{}, flight: map[qkey]*call{}, now: time.Now, timeout: timeout}
}

// get returns the cached answer to k or asks fetch, once for every
// concurrent caller. fetch runs detached from any one caller's context
// (each caller still stops waiting when its own context ends), under a
// bound of its own: the resolver's timeout.
func (c *cache) get(ctx context.Context, k qkey, fetch func(context.Context) (*answer, error)) (*answer, error) {
	c.mu.Lock()
	if a := c.m[k]; a != nil {
		if c.now().Before(a.expires) {
			c.mu.Unlock()
			return a, nil
		}
		delete(c.m, k)
	}
	cl := c.flight[k]
	if cl == nil {
		cl = &call{done: make(chan struct{})}
		c.flight[k] = cl
		go c.fill(context.WithoutCancel(ctx), k, cl, fetch)
	}
	c.mu.Unlock()
	select {
	case <-cl.done:
		return cl.a, cl.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *cache) fill(ctx context.Context, k qkey, cl *call, fetch func(context.Context) (*answer, error)) {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	cl.a, cl.err = fetch(ctx)
	c.mu.Lock()
	delete(c.flight, k)
	if cl.err == nil && c.now().Before(cl.a.expires) {
		c.put(k, cl.a)
	}
	c.mu.Unlock()
	close(cl.done)
}

// put stores an answer; c.mu is held.
func (c *cache) put(k qkey, a *answer) {
	if len(c.m) >= c.max {
		now := c.now()
		for key, old := range c.m {
			if !now.Before(old.expires) {
				delete(c.m, key)
			}
		}
		for key := range c.m {
			if len(c.m) < c.max {
				break
			}
			delete(c.m, key)
		}
	}
	c.m[k] = a
}
