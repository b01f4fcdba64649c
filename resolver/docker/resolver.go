package docker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
)

// Option configures New. A nil Option is ignored. The order of options
// never matters: each sets one value, and one given again with a different
// value (WithHost with two addresses, say) would make the order decide, so
// New refuses it with an error naming the option; the same value again is
// no conflict. New reports a bad value with an error naming the option.
type Option func(*config) error

type config struct {
	host          string
	publishedOnly bool
	log           *slog.Logger
	getenv        func(string) string

	given map[string]any // options given, by name, with their value
}

// setOnce records the value of an option. Giving it again is an error
// unless the value is the same: with two values, the order of the options
// would decide.
func (c *config) setOnce(name string, v any) error {
	if old, ok := c.given[name]; ok {
		if !sameValue(old, v) {
			return fmt.Errorf("docker: %s given twice with different values: options apply in any order, so give it once", name)
		}
		return nil
	}
	if c.given == nil {
		c.given = map[string]any{}
	}
	c.given[name] = v
	return nil
}

// sameValue reports whether two option values are the same value; values
// of types that cannot be compared (functions) never are.
func sameValue(a, b any) bool {
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	if ta != tb || ta == nil || !ta.Comparable() {
		return ta == nil && tb == nil
	}
	return a == b
}

// WithHost sets the engine's address: "unix:///var/run/docker.sock",
// "tcp://docker-host:2375", "npipe:////./pipe/docker_engine". Default: as
// the docker command line finds it: DOCKER_HOST (with DOCKER_TLS_VERIFY and
// DOCKER_CERT_PATH), then the current context (DOCKER_CONTEXT, or
// currentContext in ~/.docker/config.json), then the platform default.
func WithHost(host string) Option {
	return func(c *config) error {
		if strings.TrimSpace(host) == "" {
			return errors.New("docker: WithHost: empty engine address")
		}
		if err := c.setOnce("WithHost", host); err != nil {
			return err
		}
		c.host = host
		return nil
	}
}

// WithPublishedOnly makes the resolver answer only with published host
// ports, never with containers' own addresses. It is what Docker Desktop,
// rootless and remote engines need, and the resolver applies it by itself
// on those (see the package documentation); give it on a Linux engine to
// test what users of those will see. Default: container addresses follow
// the published ports where the engine routes to containers.
func WithPublishedOnly() Option {
	return func(c *config) error { c.publishedOnly = true; return nil }
}

// WithLogger logs the resolver's view of the engine: lost and regained
// connections at Warn and Info, each event applied at Debug. Default (and
// with nil): discard.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if err := c.setOnce("WithLogger", l); err != nil {
			return err
		}
		c.log = l
		return nil
	}
}

// withGetenv replaces os.Getenv in finding the default engine (tests).
func withGetenv(f func(string) string) Option {
	return func(c *config) error {
		if err := c.setOnce("withGetenv", f); err != nil {
			return err
		}
		c.getenv = f
		return nil
	}
}

// Resolver answers where a container's port is, from an in-memory table of
// the engine's containers that follows the engine's event stream. It is
// safe for concurrent use. Its zero value is not usable: call New.
type Resolver struct {
	host          string // the engine's address, credentials masked
	server        string // "docker engine at " + host, for not-found errors
	hosts         hosts
	publishedOnly bool   // answers only published ports
	why           string // why: "WithPublishedOnly", or the engine's reason
	engineName    string // the engine's OperatingSystem, for Snapshot
	cli           *client.Client
	log           *slog.Logger

	table atomic.Pointer[table]
	down  atomic.Pointer[EngineError] // non-nil while the engine does not answer

	mu      sync.Mutex        // serializes writers of table
	entries map[string]*entry // by container ID, the writers' copy

	updated atomic.Int64 // unix nanoseconds of the last table change
	cancel  context.CancelFunc
	done    chan struct{}
	closed  atomic.Bool
}

// New connects to the engine, loads its containers and starts following
// its events. It fails within ctx when no engine answers, with an
// *EngineError naming the address. ctx bounds only New: the resolver
// follows the engine until Close.
func New(ctx context.Context, opts ...Option) (*Resolver, error) {
	c := config{getenv: os.Getenv}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	ea, err := findEngine(c.host, c.getenv)
	if err != nil {
		return nil, err
	}
	h, err := classify(ea.host)
	if err != nil {
		return nil, err
	}
	copts := []client.Opt{client.WithUserAgent("kafkadial-docker-resolver")}
	if ea.tlsDir != "" {
		tc, err := loadTLS(ea.tlsDir, ea.verify)
		if err != nil {
			return nil, fmt.Errorf("docker: TLS for %s (%s): %w", clean(redact(ea.host)), ea.source, err)
		}
		copts = append(copts, client.WithHTTPClient(&http.Client{Transport: &http.Transport{TLSClientConfig: tc}, CheckRedirect: client.CheckRedirect}))
	}
	copts = append(copts, client.WithHost(ea.host))
	cli, err := client.New(copts...)
	if err != nil {
		return nil, fmt.Errorf("docker: engine address %q (%s): %w", clean(redact(ea.host)), ea.source, err)
	}
	r := &Resolver{
		host:          redact(ea.host),
		server:        "docker engine at " + redact(ea.host),
		hosts:         h,
		publishedOnly: c.publishedOnly,
		cli:           cli,
		log:           c.log,
		entries:       map[string]*entry{},
		done:          make(chan struct{}),
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if c.publishedOnly {
		r.why = "WithPublishedOnly"
	}
	fail := func(err error) (*Resolver, error) {
		cli.Close()
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return nil, &EngineError{Host: r.host, Err: err}
	}
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		return fail(err)
	}
	info, err := cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		return fail(err)
	}
	r.engineName = info.Info.OperatingSystem
	if why := unroutable(h, info.Info.OperatingSystem, info.Info.OSType, info.Info.SecurityOptions); why != "" && !c.publishedOnly {
		r.publishedOnly, r.why = true, why
	}
	life, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	st, err := r.connect(ctx, life)
	if err != nil {
		cancel()
		return fail(err)
	}
	go r.follow(life, st)
	return r, nil
}

// unroutable says why this host cannot reach the addresses the engine gives
// containers, from the engine's own info, or "" when it can: a remote
// engine, Docker Desktop (OperatingSystem "Docker Desktop"), a rootless
// engine (SecurityOptions "name=rootless"), or a Linux engine serving
// another operating system (a VM: colima, Rancher Desktop, ...).
func unroutable(h hosts, osName, osType string, security []string) string {
	switch {
	case h.remote:
		return "the engine is remote, at " + h.engineHost
	case strings.Contains(osName, "Docker Desktop"):
		return "Docker Desktop runs containers in a VM"
	case slices.ContainsFunc(security, func(s string) bool { return slices.Contains(strings.Split(s, ","), "name=rootless") }):
		return "the engine is rootless: containers live in its own network namespace"
	case osType != "" && osType != runtime.GOOS && !(osType == "linux" && runtime.GOOS == "android"):
		return fmt.Sprintf("the engine runs %s containers on a %s host, in a VM", osType, runtime.GOOS)
	}
	return ""
}

func loadTLS(dir string, verify bool) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: !verify}
	ca, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		return nil, err
	}
	cfg.RootCAs = x509.NewCertPool()
	if !cfg.RootCAs.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("%s holds no PEM certificate", filepath.Join(dir, "ca.pem"))
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		return nil, err
	}
	cfg.Certificates = []tls.Certificate{cert}
	return cfg, nil
}

// Host returns the engine's address (a password in it masked).
func (r *Resolver) Host() string { return r.host }

// Resolve returns where hostport (a container's name, alias, hostname,
// compose service, ID or address, and a container port) can be dialled,
// best first: each host address that publishes the port, then, unless the
// resolver answers only published ports, the container's address on each
// of its networks (by network name). It is a dialer.Resolver. A name no
// container answers to is a *net.DNSError with IsNotFound; a stopped
// container is a *StoppedError, a port the resolver may not answer for an
// *UnpublishedError, an engine that does not answer an *EngineError. A hit
// makes no engine call.
func (r *Resolver) Resolve(ctx context.Context, hostport string) ([]string, error) {
	e, _, p, err := r.findAddr(hostport)
	if err != nil {
		return nil, err
	}
	return r.answer(e, p)
}

// findAddr splits hostport and looks its host up.
func (r *Resolver) findAddr(hostport string) (*entry, int, int, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("docker: %w", err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return nil, 0, 0, &net.AddrError{Err: "docker: invalid port", Addr: clean(hostport)}
	}
	e, level, err := r.find(host, p)
	return e, level, p, err
}

// find looks a host up in the current table.
func (r *Resolver) find(host string, port int) (*entry, int, error) {
	if r.closed.Load() {
		return nil, 0, ErrClosed
	}
	if d := r.down.Load(); d != nil {
		return nil, 0, d
	}
	e, level, others := r.table.Load().find(host)
	if e == nil {
		return nil, 0, &net.DNSError{Err: "no container has this name, alias, hostname or address", Name: clean(host), Server: r.server, IsNotFound: true}
	}
	if len(others) > 0 {
		names := []string{e.c.Name}
		for _, o := range others {
			names = append(names, o.c.Name)
		}
		return nil, 0, &AmbiguousError{Name: host, MatchedBy: levelNames[level], Containers: names}
	}
	if !e.c.Running() {
		return nil, 0, &StoppedError{Container: e.c.Name, ID: e.c.ID, State: e.c.State, Port: port}
	}
	return e, level, nil
}

func (r *Resolver) answer(e *entry, port int) ([]string, error) {
	pub := e.published[port]
	if e.hostNet {
		h := "127.0.0.1"
		if r.hosts.remote {
			h = r.hosts.engineHost
		}
		return []string{net.JoinHostPort(h, strconv.Itoa(port))}, nil
	}
	if r.publishedOnly {
		if len(pub) == 0 {
			return nil, &UnpublishedError{Container: e.c.Name, ID: e.c.ID, Port: port, Why: r.why, Detail: e.skipped[port]}
		}
		return slices.Clone(pub), nil
	}
	if all, ok := e.all[port]; ok {
		return slices.Clone(all), nil
	}
	out := make([]string, len(pub), len(pub)+len(e.addrs))
	copy(out, pub)
	ps := strconv.Itoa(port)
	for _, a := range e.addrs {
		out = append(out, net.JoinHostPort(a, ps))
	}
	if len(out) == 0 {
		return nil, &UnpublishedError{Container: e.c.Name, ID: e.c.ID, Port: port, Why: "it has no address on any network (network_mode " + e.c.NetworkMode + ")", Detail: e.skipped[port]}
	}
	return out, nil
}

// ResolveDetail is Resolve that also says which container answered and
// how the name matched it ("docker container kafka-3 (3f2a1c9d4e5b) by
// alias"): it makes *Resolver a dialer.DetailResolver, so that
// dialer.Route reports it as Route.Detail and dial errors name it. It
// makes no engine call.
func (r *Resolver) ResolveDetail(ctx context.Context, hostport string) ([]string, string, error) {
	e, level, p, err := r.findAddr(hostport)
	if err != nil {
		return nil, "", err
	}
	addrs, err := r.answer(e, p)
	if err != nil {
		return nil, "", err
	}
	return addrs, fmt.Sprintf("docker container %s (%s) by %s", clean(e.c.Name), e.c.ShortID(), levelNames[level]), nil
}

// LookupHost returns the addresses of the container named host on each of
// its networks (127.0.0.1 for a container on the host's network), for
// serving DNS: names only, no ports. It fails with an *UnpublishedError
// naming port 0 when this host cannot reach container addresses, and like
// Resolve otherwise.
func (r *Resolver) LookupHost(ctx context.Context, host string) ([]string, error) {
	e, _, err := r.find(host, 0)
	if err != nil {
		return nil, err
	}
	if e.hostNet {
		if r.hosts.remote {
			return []string{r.hosts.engineHost}, nil
		}
		return []string{"127.0.0.1"}, nil
	}
	if r.publishedOnly {
		return nil, fmt.Errorf("docker: container %s has addresses this host cannot reach (%s): DNS cannot carry its published ports; dial through kafkadial's dialer with this resolver instead", clean(e.c.Name), r.why)
	}
	if len(e.addrs) == 0 {
		return nil, fmt.Errorf("docker: container %s has no address on any network (network_mode %s)", clean(e.c.Name), clean(e.c.NetworkMode))
	}
	return slices.Clone(e.addrs), nil
}

// Snapshot is the resolver's view of the engine at one moment.
type Snapshot struct {
	Host string `json:"host"` // the engine's address
	// Engine is the engine's OperatingSystem ("Debian GNU/Linux 12
	// (bookworm)", "Docker Desktop", ...).
	Engine string `json:"engine"`
	// PublishedOnly: the resolver answers only with published ports; Why
	// says why ("WithPublishedOnly", "Docker Desktop runs containers in a
	// VM", ...).
	PublishedOnly bool        `json:"published_only"`
	Why           string      `json:"why,omitempty"`
	Updated       time.Time   `json:"updated"`    // the last change of the table
	Containers    []Container `json:"containers"` // every container, running or not, by name
	Err           error       `json:"-"`          // non-nil while the engine does not answer
}

// Snapshot returns every container the resolver knows, as of its last
// event. It makes no engine call.
func (r *Resolver) Snapshot() Snapshot {
	s := Snapshot{Host: r.host, Engine: r.engineName, PublishedOnly: r.publishedOnly, Why: r.why, Updated: time.Unix(0, r.updated.Load())}
	for _, e := range r.table.Load().entries {
		s.Containers = append(s.Containers, e.c)
	}
	if d := r.down.Load(); d != nil {
		s.Err = d
	}
	return s
}

// Close stops following the engine. Resolve then fails with ErrClosed.
func (r *Resolver) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	r.cancel()
	<-r.done
	return r.cli.Close()
}

// stream is a subscription to the engine's events.
type stream struct {
	msgs   <-chan events.Message
	errs   <-chan error
	cancel context.CancelFunc
}

// eventFilters are the events that change what the resolver answers.
func eventFilters() client.Filters {
	return make(client.Filters).
		Add("type", "container", "network").
		Add("event", "create", "start", "restart", "die", "pause", "unpause", "rename", "update", "destroy", "connect", "disconnect")
}

// connect subscribes to the events, then loads every container, so that no
// change between the two is missed (events for containers already loaded
// are applied again, harmlessly). ctx bounds the connection; life is the
// subscription's lifetime.
func (r *Resolver) connect(ctx, life context.Context) (*stream, error) {
	sctx, cancel := context.WithCancel(life)
	type result struct{ res client.EventsResult }
	got := make(chan result, 1)
	go func() { got <- result{r.cli.Events(sctx, client.EventsListOptions{Filters: eventFilters()})} }()
	var st *stream
	select {
	case g := <-got:
		st = &stream{msgs: g.res.Messages, errs: g.res.Err, cancel: cancel}
	case <-ctx.Done():
		cancel()
		return nil, ctx.Err()
	}
	// The subscription failed at once (no engine): say so.
	select {
	case err := <-st.errs:
		cancel()
		if err == nil {
			err = errors.New("event stream closed")
		}
		return nil, err
	default:
	}
	if err := r.resync(ctx); err != nil {
		cancel()
		return nil, err
	}
	return st, nil
}

// resync replaces the table with the engine's containers.
func (r *Resolver) resync(ctx context.Context) error {
	list, err := r.cli.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil {
		return err
	}
	entries := make([]*entry, len(list.Items))
	errs := make([]error, len(list.Items))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i, s := range list.Items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			in, err := r.cli.ContainerInspect(ctx, s.ID, client.ContainerInspectOptions{})
			if cerrdefs.IsNotFound(err) {
				return // removed since the list
			}
			if err != nil {
				errs[i] = err
				return
			}
			entries[i] = newEntry(&in.Container, r.hosts)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = map[string]*entry{}
	for _, e := range entries {
		if e != nil {
			r.entries[e.c.ID] = e
		}
	}
	r.publish()
	return nil
}

// publish swaps in a table built from r.entries; r.mu is held.
func (r *Resolver) publish() {
	list := make([]*entry, 0, len(r.entries))
	for _, e := range r.entries {
		list = append(list, e)
	}
	r.table.Store(newTable(list))
	r.updated.Store(time.Now().UnixNano())
}

// apply updates the table for one event: the container it concerns is
// inspected again (or dropped when destroyed).
func (r *Resolver) apply(ctx context.Context, m events.Message) error {
	id := m.Actor.ID
	if m.Type == events.NetworkEventType {
		id = m.Actor.Attributes["container"]
	}
	if id == "" {
		return nil
	}
	r.log.LogAttrs(ctx, slog.LevelDebug, "docker: event", slog.String("type", string(m.Type)), slog.String("action", string(m.Action)),
		slog.String("container", short(id)), slog.String("name", m.Actor.Attributes["name"]))
	var e *entry
	if m.Action != events.ActionDestroy {
		in, err := r.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		switch {
		case cerrdefs.IsNotFound(err):
		case err != nil:
			return fmt.Errorf("inspecting container %s after %s: %w", short(id), m.Action, err)
		default:
			e = newEntry(&in.Container, r.hosts)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if e == nil {
		if _, ok := r.entries[id]; !ok {
			return nil
		}
		delete(r.entries, id)
	} else {
		r.entries[e.c.ID] = e
	}
	r.publish()
	return nil
}

// follow applies events until Close. When the stream breaks it reconnects
// and resyncs at once; while that fails, the engine is marked down (every
// Resolve fails with the error) and it retries with a growing pause, up
// to 2s.
func (r *Resolver) follow(life context.Context, st *stream) {
	defer close(r.done)
	backoff := 50 * time.Millisecond
	for {
		err := r.run(life, st)
		st.cancel()
		if life.Err() != nil {
			return
		}
		r.log.LogAttrs(life, slog.LevelWarn, "docker: event stream broke; reconnecting", slog.String("host", r.host), slog.Any("error", err))
		for {
			ctx, cancel := context.WithTimeout(life, 10*time.Second)
			st, err = r.connect(ctx, life)
			cancel()
			if err == nil {
				break
			}
			if life.Err() != nil {
				return
			}
			if r.down.Load() == nil {
				r.down.Store(&EngineError{Host: r.host, Since: time.Now(), Err: err})
				r.log.LogAttrs(life, slog.LevelWarn, "docker: engine does not answer", slog.String("host", r.host), slog.Any("error", err))
			} else {
				d := *r.down.Load()
				d.Err = err
				r.down.Store(&d)
			}
			select {
			case <-time.After(backoff):
			case <-life.Done():
				return
			}
			backoff = min(2*backoff, 2*time.Second)
		}
		if d := r.down.Swap(nil); d != nil {
			r.log.LogAttrs(life, slog.LevelInfo, "docker: engine answers again", slog.String("host", r.host), slog.Duration("down", time.Since(d.Since)))
		}
		backoff = 50 * time.Millisecond
	}
}

// run applies the stream's events until it fails.
func (r *Resolver) run(life context.Context, st *stream) error {
	for {
		select {
		case m, ok := <-st.msgs:
			if !ok {
				return errors.New("event stream closed")
			}
			ctx, cancel := context.WithTimeout(life, 10*time.Second)
			err := r.apply(ctx, m)
			cancel()
			if err != nil {
				return err
			}
		case err := <-st.errs:
			if err == nil {
				err = errors.New("event stream closed")
			}
			return err
		case <-life.Done():
			return life.Err()
		}
	}
}
