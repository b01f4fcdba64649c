package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kafkadial/kafkadial/dialer"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// checkSpec says what one check dials.
type checkSpec struct {
	addr      string  // the address asked for: bootstrap or advertised
	nodeID    int32   // the broker's node id, -1 for a bootstrap address
	clusterID *string // with nodeID, asks the broker to confirm it (KIP-1242)
	direct    string  // when set, dial this address as it is instead of routing addr
}

// checkResult is what one check found.
type checkResult struct {
	spec       checkSpec
	route      dialer.Route
	connect    time.Duration
	handshake  time.Duration
	serverName string // the name TLS verified
	api        time.Duration
	connected  bool
	tlsOK      bool
	apiOK      bool
	confirmed  bool // the broker confirmed it is spec.nodeID
	remote     net.Addr
	stage      string // where it failed: "route", "connect", "tls", "api"
	err        error
	// notFound: the dial looked the target's name up and it does not exist.
	notFound bool
}

// check dials one address through the rules (or directly), times the TCP
// connect and the TLS handshake, and makes an ApiVersions round trip.
func (p *prober) check(ctx context.Context, s checkSpec) *checkResult {
	cr := &checkResult{spec: s}
	if s.direct == "" {
		rt, err := p.d.RouteContext(ctx, s.addr)
		cr.route = shownRoute(rt)
		if err != nil {
			cr.stage, cr.err = "route", err
			return cr
		}
	} else {
		host, _, _ := net.SplitHostPort(s.addr)
		cr.route = dialer.Route{Addr: s.addr, Target: s.direct, ServerName: host}
	}

	dctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	start := time.Now()
	var (
		conn net.Conn
		err  error
	)
	if s.direct == "" {
		conn, err = p.d.Plain().DialContext(dctx, "tcp", s.addr)
	} else {
		conn, err = p.forward.DialContext(dctx, "tcp", s.direct)
	}
	cr.connect = time.Since(start)
	if err != nil {
		var de *dialer.DialError
		if errors.As(err, &de) {
			cr.route = shownRoute(de.Route)
		}
		var dns *net.DNSError
		cr.notFound = errors.As(err, &dns) && dns.IsNotFound
		cr.stage, cr.err = "connect", err
		return cr
	}
	defer conn.Close()
	cr.connected, cr.remote = true, conn.RemoteAddr()

	if p.tls != nil {
		cfg := p.tls.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName = cr.route.ServerName
		}
		tctx, cancel := context.WithTimeout(ctx, p.timeout)
		defer cancel()
		start = time.Now()
		tc := tls.Client(conn, cfg)
		err := tc.HandshakeContext(tctx)
		cr.handshake = time.Since(start)
		if err != nil {
			cr.stage, cr.err = "tls", fmt.Errorf("TLS handshake verifying %q: %w", cfg.ServerName, err)
			return cr
		}
		cr.tlsOK, cr.serverName = true, cfg.ServerName
		conn = tc
	}

	actx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	start = time.Now()
	confirmed, err := apiVersions(actx, conn, s.nodeID, s.clusterID)
	cr.api = time.Since(start)
	if err != nil {
		cr.stage, cr.err = "api", err
		return cr
	}
	cr.apiOK, cr.confirmed = true, confirmed
	return cr
}

// maxResponse bounds a response the probe reads: an ApiVersions answer is a
// few kilobytes, and a peer that is not Kafka can announce anything.
const maxResponse = 1 << 20

// errNotKafka marks a reply that is not a Kafka response.
var errNotKafka = errors.New("the peer does not answer as a Kafka broker")

// apiVersions makes an ApiVersions round trip on conn. With a node id and a
// cluster id it asks at version 5, where a broker that supports KIP-1242
// refuses a request meant for another node; confirmed reports that check
// passed. A broker that does not know version 5 says which version it
// knows (KIP-511) and is asked again.
func apiVersions(ctx context.Context, conn net.Conn, nodeID int32, clusterID *string) (confirmed bool, err error) {
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
		defer conn.SetDeadline(time.Time{})
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("kafkadial-probe"))
	version := (&kmsg.ApiVersionsRequest{}).MaxVersion()
	for corr := int32(1); corr <= 4; corr++ {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = version
		req.ClientSoftwareName = "kafkadial"
		req.ClientSoftwareVersion = "probe"
		ask := version >= 5 && nodeID >= 0 && clusterID != nil
		if ask {
			req.ClusterID, req.NodeID = clusterID, nodeID
		}
		if _, err := conn.Write(f.AppendRequest(nil, req, corr)); err != nil {
			return false, fmt.Errorf("sending ApiVersions: %w", err)
		}
		body, err := readResponse(conn, corr)
		if err != nil {
			return false, err
		}
		if len(body) < 2 {
			return false, fmt.Errorf("%w: ApiVersions response of %d bytes", errNotKafka, len(body))
		}
		if code := int16(binary.BigEndian.Uint16(body)); code == kerr.UnsupportedVersion.Code && version > 0 {
			// The broker answers at version 0 and names the versions it knows.
			old := kmsg.NewPtrApiVersionsResponse()
			old.Version = 0
			next := int16(0)
			if old.ReadFrom(body) == nil {
				for _, k := range old.ApiKeys {
					if k.ApiKey == 18 && k.MaxVersion < version && k.MaxVersion >= 0 {
						next = k.MaxVersion
					}
				}
			}
			version = next
			continue
		}
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.Version = version
		if err := resp.ReadFrom(body); err != nil {
			return false, fmt.Errorf("%w: reading ApiVersions v%d: %v", errNotKafka, version, err)
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return false, fmt.Errorf("ApiVersions: %w", err)
		}
		return ask, nil
	}
	return false, fmt.Errorf("%w: ApiVersions kept answering UNSUPPORTED_VERSION", errNotKafka)
}

// readResponse reads one size-prefixed response and checks its
// correlation id; it returns the body after the (version 0) header.
func readResponse(r io.Reader, corr int32) ([]byte, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:4]); err != nil {
		return nil, fmt.Errorf("reading the ApiVersions response: %w", err)
	}
	size := int32(binary.BigEndian.Uint32(hdr[:4]))
	if size < 4 || size > maxResponse {
		return nil, fmt.Errorf("%w (it sent %q)", errNotKafka, hdr[:4])
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("reading the ApiVersions response: %w", err)
	}
	if got := int32(binary.BigEndian.Uint32(buf)); got != corr {
		return nil, fmt.Errorf("%w: correlation id %d, want %d", errNotKafka, got, corr)
	}
	return buf[4:], nil
}

// hint says, in words a user can act on, what a failed check means.
func (p *prober) hint(cr *checkResult) string {
	rt, err := cr.route, cr.err
	target := rt.Target
	ruled := rt.Rule != ""
	via := ""
	if rt.Via != "" {
		via = " via " + rt.Via
	}
	var (
		dns *net.DNSError
		de  *dialer.DialError
	)
	switch {
	case cr.stage == "route":
		return fmt.Sprintf("the rule that matches %s cannot make a target of it: fix its target", rt.Addr)
	case errors.Is(err, dialer.ErrNoRoute):
		return fmt.Sprintf("no rule matches %s and --strict refuses it: add a rule for it", rt.Addr)
	case errors.As(err, &dns) && dns.IsNotFound && !ruled:
		return fmt.Sprintf("%s does not resolve from here and no rule matches it: add a rule that maps it to an address this host reaches (its published port)", hostOf(rt.Addr))
	case errors.As(err, &dns) && dns.IsNotFound:
		return fmt.Sprintf("the target %s of rule %s does not resolve: fix the rule's target", hostOf(target), rt.Rule)
	case errors.As(err, &dns):
		return fmt.Sprintf("looking up %s failed (%s): check the resolver, or map the name to an IP address with a rule", dns.Name, dns.Err)
	case errors.Is(err, syscall.ECONNREFUSED) && !ruled:
		return fmt.Sprintf("nothing listens on %s, the address as advertised: add a rule that maps it to the port that publishes this broker", target)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("nothing listens on %s%s, the target of rule %s: is the port published, and is it the rule's port?", target, via, rt.Rule)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return fmt.Sprintf("no route from here to %s: it is likely on a network this host cannot reach (a container or cluster network); map it with a rule, or go through a hop (via)", target)
	case errors.As(err, &de) && de.Timeout(), cr.stage == "connect" && isTimeout(err):
		return fmt.Sprintf("%s%s did not answer within %s: a firewall drops the packets or the address is not reachable from here; map it with a rule, or go through a hop (via)", target, via, p.timeout)
	case cr.stage == "tls":
		return tlsHint(err, rt, p.tls != nil && p.tls.RootCAs != nil)
	case cr.stage == "api" && errors.Is(err, kerr.RebootstrapRequired):
		return fmt.Sprintf("%s reaches a broker of this cluster that is not node %d: rule %s sends it to another broker's port", target, cr.spec.nodeID, orNone(rt.Rule))
	case cr.stage == "api" && isEOF(err) && p.tls == nil:
		return fmt.Sprintf("%s closed the connection without answering: the listener probably expects TLS (try --tls), or the port is not a Kafka listener", target)
	case cr.stage == "api" && isEOF(err):
		return fmt.Sprintf("%s closed the connection without answering: is it the Kafka listener this broker advertises?", target)
	case cr.stage == "api" && isTimeout(err):
		return fmt.Sprintf("%s accepted the connection but sent no Kafka answer within %s: is it a Kafka listener (or does it expect TLS)?", target, p.timeout)
	case errors.Is(err, errNotKafka):
		return fmt.Sprintf("%s is not a Kafka listener: the rule or the published port points at another service", target)
	}
	return ""
}

func tlsHint(err error, rt dialer.Route, haveCA bool) string {
	var (
		host  x509.HostnameError
		hostp *x509.HostnameError
		ua    x509.UnknownAuthorityError
		uap   *x509.UnknownAuthorityError
		rh    tls.RecordHeaderError
		inv   x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &host), errors.As(err, &hostp):
		return fmt.Sprintf("the broker's certificate is not valid for %s, the name it advertises (kafkadial verifies the advertised name, never the target): reissue the certificate for that name, or set --tls-server-name", rt.ServerName)
	case errors.As(err, &ua), errors.As(err, &uap):
		if haveCA {
			return "the broker's certificate is not signed by the CA in --cafile"
		}
		return "the broker's certificate is signed by an authority this host does not trust: pass its CA with --cafile"
	case errors.As(err, &inv):
		return "the broker's certificate is invalid (expired, or not for server use): " + inv.Error()
	case errors.As(err, &rh), isEOF(err):
		return fmt.Sprintf("%s does not speak TLS: drop --tls, or map the address to the broker's TLS listener", rt.Target)
	}
	return ""
}

// metadataHint explains a failed metadata request.
func metadataHint(err error, p *prober) string {
	var ke *kerr.Error
	switch {
	case errors.As(err, &ke) && (ke == kerr.SaslAuthenticationFailed || ke == kerr.IllegalSaslState):
		return "SASL authentication failed: check --sasl-user, the password and --sasl-mechanism"
	case errors.As(err, &ke) && ke == kerr.UnsupportedSaslMechanism:
		return "the broker does not offer this SASL mechanism: pick another --sasl-mechanism"
	case isEOF(err) && p.sasl == nil:
		return "the broker closed the connection: it may require SASL (--sasl-user) or TLS (--tls)"
	case isEOF(err):
		return "the broker closed the connection: check --sasl-user, the password and --sasl-mechanism (some brokers close the connection instead of answering SASL_AUTHENTICATION_FAILED), and whether it requires TLS (--tls)"
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("no metadata within %s: the bootstrap broker accepts connections but does not answer", p.timeout)
	}
	return ""
}

func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &t) && t.Timeout()
}

func orNone(rule string) string {
	if rule == "" {
		return "(none)"
	}
	return rule
}

func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}

// propose looks for an address that reaches broker b when its name does not
// resolve and no rule matches: the advertised port on the host the
// bootstrap address reached, then the bootstrap address itself. A broker
// that confirms its node id (KIP-1242) makes the proposal verified. It
// dials at most two addresses, both on the bootstrap host, and looks up no
// name.
func (p *prober) propose(ctx context.Context, b kmsg.MetadataResponseBroker, meta *kmsg.MetadataResponse, boots []*checkResult) *proposal {
	adv := net.JoinHostPort(b.Host, fmt.Sprint(b.Port))
	var bootAddr *net.TCPAddr
	for _, bc := range boots {
		if a, ok := bc.remote.(*net.TCPAddr); ok && bc.err == nil && bc.route.Via == "" {
			bootAddr = a
			break
		}
	}
	if bootAddr == nil {
		return nil
	}
	ip, _ := netip.AddrFromSlice(bootAddr.IP)
	ip = ip.Unmap()
	samePort := net.JoinHostPort(ip.String(), fmt.Sprint(b.Port))
	boot := net.JoinHostPort(ip.String(), fmt.Sprint(bootAddr.Port))
	cands := []string{samePort}
	if boot != samePort {
		cands = append(cands, boot)
	}
	distinct := true // no other broker advertises this port
	for _, o := range meta.Brokers {
		if o.NodeID != b.NodeID && o.Port == b.Port {
			distinct = false
		}
	}
	for _, cand := range cands {
		cr := p.check(ctx, checkSpec{addr: adv, nodeID: b.NodeID, clusterID: meta.ClusterID, direct: cand})
		if cr.err != nil {
			continue
		}
		rule := adv + " => " + cand
		if _, err := dialer.New(dialer.WithRules(rule)); err != nil {
			return nil // an advertised host the rule language cannot hold
		}
		switch {
		case cr.confirmed:
			return &proposal{Rule: rule, Verified: true, Note: fmt.Sprintf("%s answers as node %d", cand, b.NodeID)}
		case len(meta.Brokers) == 1:
			return &proposal{Rule: rule, Note: fmt.Sprintf("%s reaches the only broker (it could not confirm its node id)", cand)}
		case cand == samePort && distinct:
			return &proposal{Rule: rule, Note: fmt.Sprintf("a broker answers on %s, the advertised port on the bootstrap host; it could not confirm it is node %d", cand, b.NodeID)}
		}
	}
	return nil
}

// directDialer makes the probe's final connections: a net.Dialer that
// answers names under .invalid as not found without asking DNS, as RFC 6761
// (section 6.4) asks of resolver libraries.
type directDialer struct {
	net.Dialer
}

func (d *directDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if host, _, err := net.SplitHostPort(addr); err == nil && isInvalidName(host) {
		return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}}
	}
	return d.Dialer.DialContext(ctx, network, addr)
}

func isInvalidName(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	return h == "invalid" || strings.HasSuffix(h, ".invalid")
}

// progress writes the probe's progress on stderr: one line rewritten in
// place on a terminal, a line per step otherwise.
type progress struct {
	w          io.Writer
	tty, quiet bool
	mu         sync.Mutex
	shown      bool
}

func (p *progress) show(format string, args ...any) {
	if p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	msg := "kafkadial probe: " + fmt.Sprintf(format, args...)
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", msg)
	} else {
		fmt.Fprintln(p.w, msg)
	}
	p.shown = true
}

func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.shown {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
