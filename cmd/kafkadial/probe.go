package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kafkadial/kafkadial/adapters/franzdial"
	"github.com/kafkadial/kafkadial/dialer"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

const probeSynopsis = `Usage: kafkadial probe --bootstrap ADDR [flags]

Dials the bootstrap address through kafkadial's rules, fetches the cluster
metadata with franz-go, then for every broker shows the address it
advertises, the rule that takes it, the target and hop, the TCP connect
time and whether an ApiVersions round trip works (the broker also confirms
its node id when it supports KIP-1242). For a broker that fails it says
why, in words to act on, and proposes a rule when the advertised name does
not resolve and no rule matches.

Exit status: 0 when every broker answers, 1 when one does not (or the
bootstrap fails), 2 for bad flags or rules.
`

// maxParallel bounds the brokers probed at once.
const maxParallel = 8

type probeFlags struct {
	rules     ruleFlags
	bootstrap stringList
	tls       tlsFlags // flags.go
	mechanism string
	user      string
	password  string
	passFile  string
	timeout   time.Duration
	json      bool
	quiet     bool
}

func (c *cli) probe(ctx context.Context, args []string) int {
	var f probeFlags
	fs := newFlagSet("probe", probeSynopsis, c.stderr)
	fs.Var(&f.bootstrap, "bootstrap", "bootstrap `ADDR` host:port (repeatable or comma-separated; port 9092 if omitted)")
	f.rules.register(fs)
	f.tls.register(fs)
	fs.StringVar(&f.mechanism, "sasl-mechanism", "PLAIN", "SASL `MECHANISM`: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	fs.StringVar(&f.user, "sasl-user", "", "authenticate with SASL as `USER`")
	fs.StringVar(&f.password, "sasl-password", "", "SASL `PASSWORD` (visible to other users of this machine: prefer --sasl-password-file or KAFKADIAL_SASL_PASSWORD)")
	fs.StringVar(&f.passFile, "sasl-password-file", "", "read the SASL password from the first line of `FILE`")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "bound each dial, handshake and request by `DURATION`")
	fs.BoolVar(&f.json, "json", false, "print the result as one JSON document")
	fs.BoolVar(&f.quiet, "q", false, "no progress on stderr")
	pos, code, ok := parseFlags(fs, args, c.stdout)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		c.errorf("probe: unexpected argument %q (the bootstrap address goes after --bootstrap)", pos[0])
		return exitUsage
	}
	p, err := c.newProber(&f)
	defer f.rules.close()
	if err != nil {
		c.errorf("probe: %v", err)
		return exitUsage
	}
	defer p.close()
	res := p.run(ctx)
	if f.json {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			c.errorf("probe: %v", err)
		}
	} else {
		writeProbeTable(c.stdout, res, p.tls != nil)
	}
	if !res.OK {
		return exitProblem
	}
	return exitOK
}

// prober holds what one probe run needs.
type prober struct {
	bootstrap []string
	d         *dialer.Dialer
	forward   *directDialer
	tls       *tls.Config
	sasl      kgo.Opt
	timeout   time.Duration
	progress  *progress
}

// shownRoute is rt as the command shows it: where a resolver chose the
// target, the RULE column names what answered (the resolver's
// Route.Detail, e.g. "docker container kafka-1 (3f2a1b9c0d11) by alias"),
// or says "resolver"; the library's Route.Rule names rules only.
func shownRoute(rt dialer.Route) dialer.Route {
	if rt.Origin == dialer.OriginResolver && rt.Rule == "" {
		rt.Rule = rt.Detail
		if rt.Rule == "" {
			rt.Rule = "resolver"
		}
	}
	return rt
}

func (c *cli) newProber(f *probeFlags) (*prober, error) {
	if len(f.bootstrap) == 0 {
		return nil, errors.New("--bootstrap is required (e.g. --bootstrap 127.0.0.1:9092)")
	}
	if f.timeout <= 0 {
		return nil, fmt.Errorf("--timeout must be positive, not %s", f.timeout)
	}
	p := &prober{
		bootstrap: f.bootstrap,
		forward:   &directDialer{Dialer: net.Dialer{Resolver: c.resolver}},
		timeout:   f.timeout,
		progress:  &progress{w: c.stderr, tty: c.tty, quiet: f.quiet},
	}
	cfg, err := f.tls.config()
	if err != nil {
		return nil, err
	}
	p.tls = cfg
	sasl, err := c.saslOpt(f)
	if err != nil {
		return nil, err
	}
	p.sasl = sasl
	opts, err := f.rules.options(c.getenv)
	if err != nil {
		return nil, err
	}
	opts = append(opts, dialer.WithForward(p.forward), dialer.WithTimeout(f.timeout))
	if p.tls != nil {
		opts = append(opts, dialer.WithTLS(p.tls))
	}
	d, err := dialer.New(opts...)
	if err != nil {
		return nil, err
	}
	p.d = d
	return p, nil
}

func (c *cli) saslOpt(f *probeFlags) (kgo.Opt, error) {
	pass := f.password
	if f.passFile != "" {
		b, err := os.ReadFile(f.passFile)
		if err != nil {
			return nil, fmt.Errorf("--sasl-password-file: %w", err)
		}
		pass, _, _ = strings.Cut(string(b), "\n")
		pass = strings.TrimSuffix(pass, "\r")
	}
	if pass == "" {
		pass = c.getenv("KAFKADIAL_SASL_PASSWORD")
	}
	if f.user == "" {
		if f.password != "" || f.passFile != "" {
			return nil, errors.New("a SASL password needs --sasl-user")
		}
		return nil, nil
	}
	switch strings.ToUpper(f.mechanism) {
	case "PLAIN":
		return kgo.SASL(plain.Auth{User: f.user, Pass: pass}.AsMechanism()), nil
	case "SCRAM-SHA-256":
		return kgo.SASL(scram.Auth{User: f.user, Pass: pass}.AsSha256Mechanism()), nil
	case "SCRAM-SHA-512":
		return kgo.SASL(scram.Auth{User: f.user, Pass: pass}.AsSha512Mechanism()), nil
	}
	return nil, fmt.Errorf("unknown --sasl-mechanism %q: use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", f.mechanism)
}

func (p *prober) close() { p.d.Close() }

// probeResult is what probe prints, as a table or as JSON.
type probeResult struct {
	Bootstrap    []endpointResult `json:"bootstrap"`
	ClusterID    string           `json:"cluster_id,omitempty"`
	ControllerID *int32           `json:"controller_id,omitempty"`
	Brokers      []brokerResult   `json:"brokers"`
	OK           bool             `json:"ok"` // every broker answers
	Error        string           `json:"error,omitempty"`
	Hint         string           `json:"hint,omitempty"`
}

// endpointResult is one bootstrap address.
type endpointResult struct {
	Addr       string   `json:"addr"`
	Rule       string   `json:"rule,omitempty"`
	Target     string   `json:"target"`
	Via        string   `json:"via,omitempty"`
	ServerName string   `json:"server_name,omitempty"`
	ConnectMS  *float64 `json:"connect_ms,omitempty"`
	TLSMS      *float64 `json:"tls_ms,omitempty"`
	OK         bool     `json:"ok"`
	Error      string   `json:"error,omitempty"`
	Hint       string   `json:"hint,omitempty"`
}

// brokerResult is one broker from the metadata.
type brokerResult struct {
	NodeID        int32     `json:"node_id"`
	Advertised    string    `json:"advertised"`
	Rack          string    `json:"rack,omitempty"`
	Rule          string    `json:"rule,omitempty"`
	Target        string    `json:"target"`
	Via           string    `json:"via,omitempty"`
	ServerName    string    `json:"server_name,omitempty"`
	ConnectMS     *float64  `json:"connect_ms,omitempty"`
	TLSMS         *float64  `json:"tls_ms,omitempty"`
	APIVersions   bool      `json:"api_versions"`
	APIVersionsMS *float64  `json:"api_versions_ms,omitempty"`
	NodeConfirmed bool      `json:"node_confirmed"` // the broker confirmed it is NodeID (KIP-1242)
	OK            bool      `json:"ok"`
	Error         string    `json:"error,omitempty"`
	Hint          string    `json:"hint,omitempty"`
	Resolves      *bool     `json:"resolves,omitempty"` // set when the dial looked the name up
	Proposal      *proposal `json:"proposal,omitempty"`
}

// proposal is a rule the probe suggests for a broker it could not reach.
type proposal struct {
	Rule     string `json:"rule"`
	Verified bool   `json:"verified"` // the target answered as this broker's node id
	Note     string `json:"note"`
}

func (p *prober) run(ctx context.Context) *probeResult {
	res := &probeResult{Bootstrap: []endpointResult{}, Brokers: []brokerResult{}}
	var (
		seeds []string
		boots []*checkResult
	)
	for _, b := range splitAddrs(p.bootstrap) {
		p.progress.show("probing bootstrap %s", b)
		cr := p.check(ctx, checkSpec{addr: b, nodeID: -1})
		boots = append(boots, cr)
		e := cr.endpoint()
		if cr.err != nil {
			e.Hint = p.hint(cr)
		}
		res.Bootstrap = append(res.Bootstrap, e)
		if cr.err == nil {
			seeds = append(seeds, b)
		}
	}
	if len(seeds) == 0 {
		p.progress.done()
		res.Error = "no bootstrap address answers"
		return res
	}
	p.progress.show("fetching metadata from %s", strings.Join(seeds, ","))
	meta, err := p.metadata(ctx, seeds)
	if err != nil {
		p.progress.done()
		res.Error = "fetching metadata: " + err.Error()
		res.Hint = metadataHint(err, p)
		return res
	}
	res.ClusterID = deref(meta.ClusterID)
	if meta.ControllerID >= 0 {
		res.ControllerID = &meta.ControllerID
	}
	brokers := slices.Clone(meta.Brokers)
	slices.SortFunc(brokers, func(a, b kmsg.MetadataResponseBroker) int { return int(a.NodeID) - int(b.NodeID) })
	res.Brokers = make([]brokerResult, len(brokers))
	checks := make([]*checkResult, len(brokers))

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		done int
		sem  = make(chan struct{}, maxParallel)
	)
	p.progress.show("probing %d brokers", len(brokers))
	for i, b := range brokers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			addr := net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
			checks[i] = p.check(ctx, checkSpec{addr: addr, nodeID: b.NodeID, clusterID: meta.ClusterID})
			mu.Lock()
			done++
			p.progress.show("probed %d of %d brokers", done, len(brokers))
			mu.Unlock()
		}()
	}
	wg.Wait()

	res.OK = true
	for i, b := range brokers {
		cr := checks[i]
		br := cr.broker(b)
		if cr.err != nil {
			res.OK = false
			br.Hint = p.hint(cr)
			if cr.notFound && cr.route.Rule == "" {
				p.progress.show("looking for an address that reaches node %d", b.NodeID)
				br.Proposal = p.propose(ctx, b, meta, boots)
				if br.Proposal == nil {
					br.Hint += fmt.Sprintf("; no address on the bootstrap host answered as node %d: find the host port that publishes it (docker compose port SERVICE %d, or kafkadial rules from-compose)", b.NodeID, b.Port)
				}
			}
		}
		res.Brokers[i] = br
	}
	if len(brokers) == 0 {
		res.OK = false
		res.Error = "the metadata lists no brokers"
	}
	p.progress.done()
	return res
}

// metadata asks the seeds for the cluster's brokers, through the dialer and
// with SASL when configured, as a client would.
func (p *prober) metadata(ctx context.Context, seeds []string) (*kmsg.MetadataResponse, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		franzdial.Opt(p.d),
		kgo.ClientID("kafkadial-probe"),
		kgo.RetryTimeout(p.timeout),
		kgo.RequestRetries(2), // a probe reports; it does not wait out a broken broker
		kgo.RequestTimeoutOverhead(p.timeout),
	}
	if p.sasl != nil {
		opts = append(opts, p.sasl)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{} // brokers only
	return req.RequestWith(ctx, cl)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// splitAddrs splits comma-separated addresses and gives each a port.
func splitAddrs(list []string) []string {
	var out []string
	for _, l := range list {
		for _, a := range strings.Split(l, ",") {
			a = strings.TrimSpace(a)
			if a == "" {
				continue
			}
			if _, _, err := net.SplitHostPort(a); err != nil {
				a = net.JoinHostPort(strings.Trim(a, "[]"), "9092")
			}
			out = append(out, a)
		}
	}
	return out
}
