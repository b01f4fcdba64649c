package resolver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

var _ dns.Handler = (*Resolver)(nil)

// ServeDNS answers one DNS message: from the zones (authoritative), from the
// cache or an upstream for forwarded names, REFUSED for names outside every
// zone and forward. A record type a name lacks gets NODATA (NOERROR, no
// answer), a name that does not exist NXDOMAIN. EDNS0 is honoured (payload
// size, BADVERS for versions other than 0) and UDP answers that do not fit
// are truncated with TC set. Messages that are themselves responses get no
// answer.
func (r *Resolver) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	udp := true
	if a := w.RemoteAddr(); a != nil && a.Network() != "udp" {
		udp = false
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.serveTimeout())
	defer cancel()
	resp := r.reply(ctx, req, udp)
	if resp == nil {
		return
	}
	if err := w.WriteMsg(resp); err != nil {
		r.log.LogAttrs(ctx, slog.LevelDebug, "resolver: writing answer", slog.Any("error", err))
	}
}

// serveTimeout bounds the answer to one served question: it is one lookup,
// which WithTimeout bounds.
func (r *Resolver) serveTimeout() time.Duration { return r.timeout }

// reply builds the answer to req, or nil when req deserves none.
func (r *Resolver) reply(ctx context.Context, req *dns.Msg, udp bool) *dns.Msg {
	if req == nil || req.Response {
		return nil
	}
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.RecursionAvailable = len(r.forwards) > 0
	size := dns.MinMsgSize
	opt := req.IsEdns0()
	if opt != nil {
		if opt.Version() != 0 {
			resp.Rcode = dns.RcodeBadVers
			resp.SetEdns0(ednsSize, false)
			return resp
		}
		size = max(int(opt.UDPSize()), dns.MinMsgSize)
	}
	if !udp {
		size = dns.MaxMsgSize
	}
	switch {
	case req.Opcode != dns.OpcodeQuery:
		resp.Rcode = dns.RcodeNotImplemented
	case len(req.Question) != 1:
		resp.Rcode = dns.RcodeFormatError
	case req.Question[0].Qclass != dns.ClassINET && req.Question[0].Qclass != dns.ClassANY:
		resp.Rcode = dns.RcodeRefused
	default:
		r.answerQuestion(ctx, resp, req.Question[0])
	}
	if opt != nil {
		resp.SetEdns0(ednsSize, false)
	}
	resp.Compress = true
	resp.Truncate(size)
	return resp
}

func (r *Resolver) answerQuestion(ctx context.Context, resp *dns.Msg, q dns.Question) {
	switch q.Qtype {
	case dns.TypeAXFR, dns.TypeIXFR:
		resp.Rcode = dns.RcodeRefused
		return
	case dns.TypeOPT, dns.TypeTSIG, dns.TypeTKEY, dns.TypeMAILA, dns.TypeMAILB:
		resp.Rcode = dns.RcodeNotImplemented
		return
	}
	name := canonical(q.Name)
	a, err := r.lookup(ctx, name, q.Qtype)
	if err != nil {
		r.log.LogAttrs(ctx, slog.LevelWarn, "resolver: answering", slog.String("name", q.Name), slog.Any("error", err))
		resp.Rcode = dns.RcodeServerFailure
		return
	}
	resp.Rcode = a.rcode
	resp.Authoritative = a.local() && a.rcode != dns.RcodeRefused
	if a.local() {
		// Zone records are never modified, and packing does not write to
		// them: share them.
		resp.Answer, resp.Ns = a.rrs, a.ns
	} else {
		left := uint32(max(0, time.Until(a.expires)/time.Second))
		resp.Answer, resp.Ns = aged(a.rrs, left), aged(a.ns, left)
	}
	if r.log.Enabled(ctx, slog.LevelDebug) {
		r.log.LogAttrs(ctx, slog.LevelDebug, "resolver: served", slog.String("name", q.Name),
			slog.String("type", dns.TypeToString[q.Qtype]), slog.String("rcode", dns.RcodeToString[a.rcode]),
			slog.String("from", a.server))
	}
}

// aged copies cached records with their TTLs capped at what is left.
func aged(rrs []dns.RR, left uint32) []dns.RR {
	if len(rrs) == 0 {
		return nil
	}
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		c := dns.Copy(rr)
		c.Header().Ttl = min(c.Header().Ttl, left)
		out[i] = c
	}
	return out
}

// Server serves a Resolver over UDP and TCP on one address. Build it with
// Listen.
type Server struct {
	r    *Resolver
	pc   net.PacketConn
	ln   net.Listener
	once sync.Once
}

// Listen binds addr ("127.0.0.1:5353") for UDP and TCP, on the same port
// when the port is 0. An empty host or "localhost" means 127.0.0.1; an
// address that is not loopback is refused unless the resolver was built
// WithNonLoopback.
func (r *Resolver) Listen(addr string) (*Server, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("resolver: listen address: %w", err)
	}
	if host == "" || host == "localhost" {
		host = "127.0.0.1"
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return nil, fmt.Errorf("resolver: listen address %q: want an IP address", addr)
	}
	if !ip.IsLoopback() && !r.nonLoopback {
		return nil, fmt.Errorf("resolver: refusing to listen on %s, which is not loopback: others could use it as a resolver (allow it with WithNonLoopback, or --allow-non-loopback for kafkadial dns serve)", ip)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return nil, fmt.Errorf("resolver: listen address %q: bad port", addr)
	}
	for attempt := 0; ; attempt++ {
		pc, err := net.ListenPacket("udp", net.JoinHostPort(ip.String(), port))
		if err != nil {
			return nil, fmt.Errorf("resolver: %w", err)
		}
		udpPort := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", net.JoinHostPort(ip.String(), strconv.Itoa(udpPort)))
		if err != nil {
			pc.Close()
			if port == "0" && errors.Is(err, syscall.EADDRINUSE) && attempt < 20 {
				continue // that UDP port's TCP twin is taken: pick another
			}
			return nil, fmt.Errorf("resolver: %w", err)
		}
		return &Server{r: r, pc: pc, ln: ln}, nil
	}
}

// Addr returns the address served, e.g. "127.0.0.1:5353" (UDP and TCP).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve answers queries until ctx is done, then shuts down, letting
// queries in progress finish, and returns nil. It returns an error only
// when serving fails.
func (s *Server) Serve(ctx context.Context) error {
	var started sync.WaitGroup
	started.Add(2)
	servers := []*dns.Server{
		{PacketConn: s.pc, Handler: s.r, NotifyStartedFunc: started.Done},
		{Listener: s.ln, Handler: s.r, NotifyStartedFunc: started.Done},
	}
	errc := make(chan error, len(servers))
	for _, srv := range servers {
		go func() { errc <- srv.ActivateAndServe() }()
	}
	ready := make(chan struct{})
	go func() { started.Wait(); close(ready) }()
	var err error
	select {
	case <-ready:
		select {
		case <-ctx.Done():
		case err = <-errc:
		}
	case err = <-errc:
	}
	if err == nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		for _, srv := range servers {
			srv.ShutdownContext(sctx)
		}
		cancel()
		for range servers {
			<-errc
		}
	}
	s.Close()
	if err != nil {
		return fmt.Errorf("resolver: serving %s: %w", s.Addr(), err)
	}
	return nil
}

// Close stops listening. Serve calls it on its way out.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		err = errors.Join(s.pc.Close(), s.ln.Close())
		if errors.Is(err, net.ErrClosed) {
			err = nil
		}
	})
	return err
}

// ListenAndServe is Listen then Serve: it answers DNS on addr over UDP and
// TCP until ctx is done.
func (r *Resolver) ListenAndServe(ctx context.Context, addr string) error {
	s, err := r.Listen(addr)
	if err != nil {
		return err
	}
	return s.Serve(ctx)
}

// NetResolver returns a *net.Resolver whose queries this Resolver answers
// in process, with no socket: for any Go code that takes a *net.Resolver
// (net.Dialer.Resolver, http.Transport through a net.Dialer). Go still
// reads /etc/hosts first and applies the search domains and ndots of
// /etc/resolv.conf to the names it asks about.
func (r *Resolver) NetResolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			client, server := net.Pipe()
			go r.servePipe(server)
			return client, nil
		},
	}
}

// servePipe answers length-prefixed DNS messages (TCP framing, which Go's
// resolver uses on a conn that is not a net.PacketConn) until the other
// end closes.
func (r *Resolver) servePipe(c net.Conn) {
	defer c.Close()
	for {
		c.SetReadDeadline(time.Now().Add(r.serveTimeout()))
		var l [2]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			return
		}
		buf := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		req := new(dns.Msg)
		if err := req.Unpack(buf); err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), r.serveTimeout())
		resp := r.reply(ctx, req, false)
		cancel()
		if resp == nil {
			return
		}
		out, err := resp.Pack()
		if err != nil {
			return
		}
		c.SetWriteDeadline(time.Now().Add(r.serveTimeout()))
		frame := binary.BigEndian.AppendUint16(make([]byte, 0, len(out)+2), uint16(len(out)))
		if _, err := c.Write(append(frame, out...)); err != nil {
			return
		}
	}
}
