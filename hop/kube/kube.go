package kube

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kafkadial/kafkadial/hop"
)

// DefaultTimeout is the upper bound of a dial when WithTimeout sets none:
// the API calls that find the pod and the opening of its port-forward
// connection.
const DefaultTimeout = 30 * time.Second

// An Option configures a Dialer or a Builder. A nil Option is ignored. The
// order of options never matters: each sets one value, and one given
// again with a different value (WithContext("a") and WithContext("b"),
// say) would make the order decide, so it is an error naming the option;
// the same value again is no conflict. New, and a Builder's Build, report a
// bad value, or an option given twice, with an error naming the option.
type Option func(*options)

type options struct {
	kubeconfig string
	context    string
	namespace  string
	spdyOnly   bool
	timeout    time.Duration
	log        *slog.Logger
	domain     string // the cluster domain: "cluster.local" unless set

	given map[string]any // options given, by name, with their value
	err   error          // the first option given twice with different values
}

// setOnce records the value of an option and reports whether to apply it.
// Giving it again with another value records an error, which newOptions
// returns: with two values, the order of the options would decide.
func (o *options) setOnce(name string, v any) bool {
	if old, ok := o.given[name]; ok {
		if !sameValue(old, v) && o.err == nil {
			o.err = fmt.Errorf("kube: %s given twice with different values: options apply in any order, so give it once", name)
		}
		return false
	}
	if o.given == nil {
		o.given = map[string]any{}
	}
	o.given[name] = v
	return true
}

// sameValue reports whether two option values are the same value; values
// of types that cannot be compared never are.
func sameValue(a, b any) bool {
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	if ta != tb || ta == nil || !ta.Comparable() {
		return ta == nil && tb == nil
	}
	return a == b
}

// WithKubeconfig reads the kubeconfig file at path instead of following
// client-go's loading rules. Default (and with ""): client-go's loading
// rules (KUBECONFIG, then ~/.kube/config, then the in-cluster service
// account).
func WithKubeconfig(path string) Option {
	return func(o *options) {
		if o.setOnce("WithKubeconfig", path) {
			o.kubeconfig = path
		}
	}
}

// WithContext uses the kubeconfig context name. Default (and with ""):
// the kubeconfig's current context.
func WithContext(name string) Option {
	return func(o *options) {
		if o.setOnce("WithContext", name) {
			o.context = name
		}
	}
}

// WithNamespace is the namespace of addresses that name none (SVC:PORT, a
// pod IP is looked up there first). Default (and with ""): the context's
// namespace, itself "default" when the context sets none.
func WithNamespace(ns string) Option {
	return func(o *options) {
		if o.setOnce("WithNamespace", ns) {
			o.namespace = ns
		}
	}
}

// WithSPDY opens port-forward connections with SPDY only, instead of
// trying the WebSocket-tunnelled protocol first and falling back to SPDY
// when the API server refuses it (what kubectl does, unless
// KUBECTL_PORT_FORWARD_WEBSOCKETS=false). Default: WebSocket first.
func WithSPDY() Option {
	return func(o *options) { o.spdyOnly = true }
}

// WithTimeout is an upper bound on a dial: the API calls that find the pod
// and the opening of its port-forward connection. A dial fails when it
// passes or when the dial's context ends, whichever comes first; client-go's
// own timeouts (10 s for a TLS handshake) do not stretch it. The shared
// port-forward connection to a pod is opened on a context of its own,
// bounded by d, so that a dial giving up does not fail the others waiting
// for it. Default (and with 0): DefaultTimeout. A negative d is an error.
func WithTimeout(d time.Duration) Option {
	return func(o *options) {
		if o.setOnce("WithTimeout", d) {
			o.timeout = d
		}
	}
}

// DefaultClusterDomain is the cluster domain of Kubernetes' DNS unless the
// cluster sets another (the kubelet's --cluster-domain).
const DefaultClusterDomain = "cluster.local"

// WithClusterDomain sets the cluster domain of the names the Dialer
// accepts, for a cluster whose DNS is not under cluster.local: with
// "corp.example", POD.SERVICE.NAMESPACE.svc.corp.example:PORT. Names
// ending in .svc alone are accepted either way. New refuses a domain that
// is not DNS labels. Default (and with ""): DefaultClusterDomain.
func WithClusterDomain(domain string) Option {
	return func(o *options) {
		if o.setOnce("WithClusterDomain", domain) {
			o.domain = domain
		}
	}
}

// WithLogger sets the logger for port-forward connections opened (Info)
// and lost (Warn). Default (and with nil): discard. Credentials never
// reach it.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if o.setOnce("WithLogger", l) {
			o.log = l
		}
	}
}

func newOptions(opts []Option) (options, error) {
	var o options
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	if o.err != nil {
		return o, o.err
	}
	if o.timeout < 0 {
		return o, fmt.Errorf("kube: WithTimeout: negative duration %s", o.timeout)
	}
	if o.timeout == 0 {
		o.timeout = DefaultTimeout
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if o.domain == "" {
		o.domain = DefaultClusterDomain
	}
	return o, nil
}

// checkDomain checks a cluster domain: DNS labels, a trailing dot
// allowed; it returns the domain in lower case without the dot.
func checkDomain(domain string) (string, error) {
	d := strings.ToLower(strings.TrimSuffix(domain, "."))
	for _, l := range strings.Split(d, ".") {
		if !isLabel(l) {
			return "", fmt.Errorf("cluster domain %q: %q is not a DNS label", domain, l)
		}
	}
	return d, nil
}

// A Dialer reaches pods of one kubeconfig context through the API
// server's port-forward. It is a plain ContextDialer; Close ends its
// port-forward connections.
type Dialer struct {
	opts      options
	log       *slog.Logger
	context   string // the kubeconfig context's name
	namespace string // for addresses without one
	config    *rest.Config
	client    kubernetes.Interface

	mu      sync.Mutex
	pods    map[string]*podConn // by namespace/name
	closing chan struct{}
	closed  bool
}

var (
	_ hop.ContextDialer = (*Dialer)(nil)
	_ hop.Describer     = (*Dialer)(nil)
)

// New loads the kubeconfig with client-go's loading rules (the file of
// WithKubeconfig, else KUBECONFIG, else ~/.kube/config, else the in-cluster
// service account) and returns a Dialer for its context. It makes no
// connection: the first dial does, and credentials (certificates, tokens,
// exec plugins such as EKS's and GKE's, OIDC) are client-go's to use.
func New(opts ...Option) (*Dialer, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	return newDialer(o)
}

// newDialer is New with its options resolved.
func newDialer(o options) (*Dialer, error) {
	domain, err := checkDomain(o.domain)
	if err != nil {
		return nil, fmt.Errorf("kube: WithClusterDomain: %w", err)
	}
	o.domain = domain
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if o.kubeconfig != "" {
		rules.ExplicitPath = o.kubeconfig
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: o.context}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kube: loading kubeconfig%s: %w", contextNote(o.context), printableError{err})
	}
	name := o.context
	if name == "" {
		if raw, err := cc.RawConfig(); err == nil {
			name = raw.CurrentContext
		}
	}
	ns := o.namespace
	if ns == "" {
		if ns, _, err = cc.Namespace(); err != nil || ns == "" {
			ns = metav1.NamespaceDefault
		}
	}
	if !isLabel(ns) {
		return nil, fmt.Errorf("kube: namespace %q is not a Kubernetes name", ns)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "kafkadial"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kube: context %q: %w", name, printableError{err})
	}
	return &Dialer{
		opts:      o,
		log:       o.log,
		context:   name,
		namespace: ns,
		config:    cfg,
		client:    client,
		pods:      map[string]*podConn{},
		closing:   make(chan struct{}),
	}, nil
}

func contextNote(name string) string {
	if name == "" {
		return ""
	}
	return fmt.Sprintf(" (context %q)", name)
}

// Context returns the name of the kubeconfig context the Dialer uses (""
// for the in-cluster service account).
func (d *Dialer) Context() string { return d.context }

// Namespace returns the namespace of addresses that name none.
func (d *Dialer) Namespace() string { return d.namespace }

// ClusterDomain returns the cluster domain of the names the Dialer
// accepts: DefaultClusterDomain unless WithClusterDomain or a hop URL's
// cluster-domain set another, in lower case without a trailing dot.
func (d *Dialer) ClusterDomain() string { return d.opts.domain }

// String returns "k8s://CONTEXT", the hop as a rule would name it.
func (d *Dialer) String() string { return "k8s://" + d.context }

// Describe returns String(): Route.Via shows the context that "k8s://" or
// a name given to dialer.WithVia stands for (see hop.Describer).
func (d *Dialer) Describe() string { return d.String() }

// DialContext connects to the pod that addr names, through the API
// server's port-forward:
//
//   - POD.SUBDOMAIN.NS.svc[.cluster.local]:PORT, the per-pod name of a
//     headless service (what StatefulSet, Strimzi and Bitnami brokers
//     advertise): port PORT of pod POD in namespace NS (the cluster domain
//     is WithClusterDomain's, cluster.local by default);
//   - SVC.NS.svc[.cluster.local]:PORT, SVC.NS:PORT, SVC:PORT: a ready pod
//     behind service SVC (from its EndpointSlices), at the service port's
//     targetPort (a named one too); a pod that already has a port-forward
//     connection is preferred;
//   - a pod IP: the running pod with that IP, looked up in the Dialer's
//     namespace, then in all.
//
// Each pod has one port-forward connection, opened by the first dial and
// shared by every conn to it; when it drops, its conns fail with ErrLost
// and the next dial opens a new one; a dial waiting for it that gives up
// does not fail the others. A dial fails with an *Error naming the pod or
// service, the namespace and what failed; it ends with its context or
// WithTimeout's bound, whichever comes first. Only TCP is supported.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, &Error{Context: d.context, Addr: address, Op: "dial " + printable(network), Err: errors.New("only TCP is forwarded")}
	}
	t, err := parseAddress(address, d.opts.domain)
	if err != nil {
		return nil, &Error{Context: d.context, Addr: address, Kind: ErrBadAddress, Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, d.opts.timeout)
	defer cancel()
	fail := func(what, op string, err error) error {
		e := &Error{Context: d.context, Addr: address, What: what, Op: op, Err: err}
		if ke := (*Error)(nil); errors.As(err, &ke) {
			return err
		}
		if errors.Is(err, ErrNotRunning) || errors.Is(err, ErrNoEndpoints) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrClosed) {
			e.Kind, e.Err = err, nil
			var w *wrapped
			if errors.As(err, &w) {
				e.Kind, e.Err = w.kind, w.err
			}
			return e
		}
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			e.Err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		e.Kind = classify(err)
		if e.Kind == ErrUnreachable {
			e.Err = fmt.Errorf("%s: %w", hop.Mask(d.config.Host), err)
		}
		return e
	}
	if d.isClosed() {
		return nil, &Error{Context: d.context, Addr: address, Kind: ErrClosed}
	}
	ns, pod, port, what, op, err := d.find(ctx, t)
	if err != nil {
		return nil, fail(what, op, err)
	}
	pc, err := d.podConn(ns, pod)
	if err != nil {
		return nil, fail(what, "", err)
	}
	a, err := pc.get(ctx)
	if err != nil {
		return nil, fail(pc.what, "open port-forward", upgradeCause(err))
	}
	data, errs, err := a.streams(port)
	if err != nil {
		// The connection dropped between get and now: the next dial reopens it.
		return nil, fail(pc.what, fmt.Sprintf("open stream to port %d", port), err)
	}
	local := addr(d.String())
	remote := addr(fmt.Sprintf("%s.%s:%d", pod, ns, port))
	return newConn(a, pc.what, data, errs, local, remote), nil
}

// wrapped carries a Kind and its detail from find to the *Error.
type wrapped struct {
	kind error
	err  error
}

func (w *wrapped) Error() string   { return w.kind.Error() + ": " + w.err.Error() }
func (w *wrapped) Unwrap() []error { return []error{w.kind, w.err} }

func kindErr(kind error, format string, args ...any) error {
	return &wrapped{kind: kind, err: fmt.Errorf(format, args...)}
}

// find maps a target to a pod and port, asking the API server. what and
// op say, for an error, what was looked up and how.
func (d *Dialer) find(ctx context.Context, t target) (ns, pod string, port int, what, op string, err error) {
	ns = cmp.Or(t.namespace, d.namespace)
	what = t.what(d.namespace)
	switch t.kind {
	case podName:
		// An open connection to the pod stands for its check.
		if d.hasOpen(ns, t.name) {
			return ns, t.name, t.port, what, "", nil
		}
		p, err := d.client.CoreV1().Pods(ns).Get(ctx, t.name, metav1.GetOptions{})
		if err != nil {
			return "", "", 0, what, "get pod", err
		}
		if p.Spec.Subdomain != "" && p.Spec.Subdomain != t.subdomain {
			return "", "", 0, what, "", kindErr(ErrNotFound, "the pod's subdomain is %q, not %q", p.Spec.Subdomain, t.subdomain)
		}
		if err := running(p); err != nil {
			return "", "", 0, what, "", err
		}
		return ns, p.Name, t.port, what, "", nil
	case service:
		return d.findService(ctx, ns, t, what)
	default:
		return d.findIP(ctx, t, what)
	}
}

func running(p *corev1.Pod) error {
	if p.Status.Phase != corev1.PodRunning {
		return kindErr(ErrNotRunning, "phase %s", cmp.Or(string(p.Status.Phase), "unknown"))
	}
	if p.DeletionTimestamp != nil {
		return kindErr(ErrNotRunning, "being deleted")
	}
	return nil
}

func (d *Dialer) findService(ctx context.Context, ns string, t target, what string) (string, string, int, string, string, error) {
	svc, err := d.client.CoreV1().Services(ns).Get(ctx, t.name, metav1.GetOptions{})
	if err != nil {
		return "", "", 0, what, "get service", err
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return "", "", 0, what, "", kindErr(ErrNoEndpoints, "an ExternalName service (%s) has no pods", svc.Spec.ExternalName)
	}
	var sp *corev1.ServicePort
	for i := range svc.Spec.Ports {
		if int(svc.Spec.Ports[i].Port) == t.port {
			sp = &svc.Spec.Ports[i]
		}
	}
	if sp == nil && len(svc.Spec.Ports) > 0 {
		var ports []string
		for _, p := range svc.Spec.Ports {
			ports = append(ports, fmt.Sprint(p.Port))
		}
		return "", "", 0, what, "", kindErr(ErrNotFound, "the service has no port %d (it has %s)", t.port, strings.Join(ports, ", "))
	}
	slices, err := d.client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + t.name})
	if err != nil {
		return "", "", 0, what, "list endpointslices", err
	}
	type cand struct {
		pod  string
		port int
	}
	var cands []cand
	for _, es := range slices.Items {
		port := t.port // a service without ports (headless): the port as dialled
		if sp != nil {
			port = targetPort(sp, es.Ports)
		}
		if port == 0 {
			continue // the named port is not in this slice's pods
		}
		for _, ep := range es.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			if ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" || ep.TargetRef.Name == "" {
				continue
			}
			cands = append(cands, cand{ep.TargetRef.Name, port})
		}
	}
	if len(cands) == 0 {
		return "", "", 0, what, "", kindErr(ErrNoEndpoints, "no ready pod in its EndpointSlices")
	}
	sortCands := func(a, b cand) int { return strings.Compare(a.pod, b.pod) }
	slicesSort(cands, sortCands)
	pick := cands[0]
	for _, c := range cands {
		if d.hasOpen(ns, c.pod) {
			pick = c
			break
		}
	}
	return ns, pick.pod, pick.port, fmt.Sprintf("%s (pod %s)", what, pick.pod), "", nil
}

func slicesSort[T any](s []T, f func(a, b T) int) { slices.SortFunc(s, f) }

// targetPort maps a service port to the pods' port: a number, or a name
// that the EndpointSlice resolved for its pods (its ports carry the service
// port's name and the pods' number). 0 when the slice lacks it.
func targetPort(sp *corev1.ServicePort, esPorts []discoveryv1.EndpointPort) int {
	if sp.TargetPort.Type == intstr.Int {
		if sp.TargetPort.IntVal == 0 {
			return int(sp.Port)
		}
		return int(sp.TargetPort.IntVal)
	}
	for _, p := range esPorts {
		if p.Name != nil && *p.Name == sp.Name && p.Port != nil {
			return int(*p.Port)
		}
	}
	return 0
}

func (d *Dialer) findIP(ctx context.Context, t target, what string) (string, string, int, string, string, error) {
	sel := fields.OneTermEqualSelector("status.podIP", t.ip.String()).String()
	var found []corev1.Pod
	note := ""
	for _, ns := range []string{d.namespace, metav1.NamespaceAll} {
		list, err := d.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{FieldSelector: sel})
		if ns == "" && apierrors.IsForbidden(err) {
			note = fmt.Sprintf(" in namespace %s (listing pods in all namespaces is forbidden)", d.namespace)
			break
		}
		if err != nil {
			op := "list pods in namespace " + ns
			if ns == "" {
				op = "list pods in all namespaces"
			}
			return "", "", 0, what, op, err
		}
		for _, p := range list.Items {
			if !p.Spec.HostNetwork && running(&p) == nil {
				found = append(found, p)
			}
		}
		if len(found) > 0 {
			break
		}
	}
	if len(found) == 0 {
		return "", "", 0, what, "", kindErr(ErrNotFound, "no running pod has IP %s%s", t.ip, note)
	}
	p := found[0]
	return p.Namespace, p.Name, t.port, fmt.Sprintf("pod %s in namespace %s (IP %s)", p.Name, p.Namespace, t.ip), "", nil
}

// podConn returns the shared connection state of a pod.
func (d *Dialer) podConn(ns, pod string) (*podConn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, ErrClosed
	}
	key := ns + "/" + pod
	pc := d.pods[key]
	if pc == nil {
		pc = &podConn{d: d, namespace: ns, pod: pod, what: fmt.Sprintf("pod %s in namespace %s", pod, ns)}
		d.pods[key] = pc
	}
	return pc, nil
}

// hasOpen reports whether the pod has an open port-forward connection.
func (d *Dialer) hasOpen(ns, pod string) bool {
	d.mu.Lock()
	pc := d.pods[ns+"/"+pod]
	d.mu.Unlock()
	if pc == nil {
		return false
	}
	pc.mu.Lock()
	a := pc.cur
	pc.mu.Unlock()
	if a == nil {
		return false
	}
	select {
	case <-a.done:
		return a.err == nil && !isClosedChan(a.lost)
	default:
		return false
	}
}

func (d *Dialer) isClosed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}

// Close ends every port-forward connection; conns on them fail with
// ErrLost. Dials after Close fail with ErrClosed.
func (d *Dialer) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	close(d.closing)
	pods := d.pods
	d.mu.Unlock()
	for _, pc := range pods {
		pc.mu.Lock()
		a := pc.cur
		pc.mu.Unlock()
		if a == nil {
			continue
		}
		select {
		case <-a.done:
			if a.conn != nil {
				a.conn.Close()
				<-a.lost
			}
		default:
		}
	}
	return nil
}

// A Builder builds k8s:// hops for a dialer: "via k8s://CONTEXT" reaches
// pods through the API server of kubeconfig context CONTEXT, "k8s://" through
// the current context's, and "k8s://CONTEXT/NAMESPACE" takes NAMESPACE for
// addresses without one. Hops of the same URL share one Dialer.
//
// The Builder owns the Dialers it builds: Close ends them all, and nothing
// else does. A dialer given the Builder with dialer.WithScheme never closes
// it nor its Dialers, so one Builder can serve dialer.Check and
// dialer.New, or several dialers, and the caller closes it once they are
// done. Build never returns a closed Dialer: one someone else closed is
// made anew, and after Close, Build fails with ErrClosed.
//
//	d, err := dialer.New(
//		dialer.WithScheme("k8s", kube.NewBuilder()),
//		dialer.WithRules("*.kafka.svc:9092 => = via k8s://prod"),
//	)
type Builder struct {
	opts []Option

	mu      sync.Mutex
	dialers map[string]*Dialer
	closed  bool
}

var _ hop.Builder = (*Builder)(nil)

// NewBuilder returns a Builder whose Dialers take opts (WithKubeconfig,
// WithLogger, ...). A hop URL is not an option: its context, and its
// namespace and cluster-domain when it names them, take the place of
// WithContext, WithNamespace and WithClusterDomain for that hop. It reads
// no file until the first Build, which reports a bad option, or one given
// twice with different values, as New does.
func NewBuilder(opts ...Option) *Builder {
	return &Builder{opts: opts, dialers: map[string]*Dialer{}}
}

// Build returns the Dialer for req.URL,
// k8s://[CONTEXT][/NAMESPACE][?cluster-domain=DOMAIN]. cluster-domain is
// WithClusterDomain for this hop, so that a rule file can name a cluster
// whose DNS is not under cluster.local; it is the only query parameter. A
// k8s:// hop talks to the API server on its own, so it can only be the
// first hop of a chain.
func (b *Builder) Build(req hop.Request) (hop.ContextDialer, error) {
	u := req.URL
	shown := hop.Mask(u.String())
	if !req.First() {
		return nil, fmt.Errorf("hop %s: a k8s:// hop reaches the API server itself, so it can only be the first hop of a chain (after %s)", shown, hop.Mask(req.Chain))
	}
	if u.User != nil || u.Port() != "" || u.Fragment != "" || u.Opaque != "" {
		return nil, fmt.Errorf("hop %s: want k8s://[CONTEXT][/NAMESPACE][?cluster-domain=DOMAIN]", shown)
	}
	ns := strings.Trim(u.Path, "/")
	if ns != "" && !isLabel(ns) {
		return nil, fmt.Errorf("hop %s: namespace %q is not a Kubernetes name", shown, ns)
	}
	ctxName, err := url.PathUnescape(u.Host)
	if err != nil {
		return nil, fmt.Errorf("hop %s: bad context name", shown)
	}
	domain, err := hopDomain(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("hop %s: %w", shown, err)
	}
	key := ctxName + "/" + ns + "?" + domain
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, fmt.Errorf("hop %s: %w", shown, ErrClosed)
	}
	if d := b.dialers[key]; d != nil && !d.isClosed() {
		return d, nil
	}
	o, err := newOptions(b.opts)
	if err != nil {
		return nil, fmt.Errorf("hop %s: %w", shown, err)
	}
	o.context = ctxName
	if ns != "" {
		o.namespace = ns
	}
	if domain != "" {
		o.domain = domain
	}
	d, err := newDialer(o)
	if err != nil {
		return nil, fmt.Errorf("hop %s: %w", shown, err)
	}
	b.dialers[key] = d
	return d, nil
}

// hopDomain reads a k8s:// hop URL's query: nothing, or one
// cluster-domain, checked as WithClusterDomain's and returned in its
// canonical form ("" when the query does not set one).
func hopDomain(rawQuery string) (string, error) {
	if rawQuery == "" {
		return "", nil
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", errors.New("bad query (want ?cluster-domain=DOMAIN)")
	}
	for k := range q {
		if k != "cluster-domain" {
			return "", fmt.Errorf("unknown query parameter %q (the only one is cluster-domain)", k)
		}
	}
	v := q["cluster-domain"]
	if len(v) != 1 || v[0] == "" {
		return "", errors.New("cluster-domain wants one domain")
	}
	return checkDomain(v[0])
}

// Close closes every Dialer the Builder made; Build then fails with
// ErrClosed. Call it once every dialer given b is done: they do not close
// it.
func (b *Builder) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	var errs []error
	for k, d := range b.dialers {
		errs = append(errs, d.Close())
		delete(b.dialers, k)
	}
	return errors.Join(errs...)
}
