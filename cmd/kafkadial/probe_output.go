package main

import (
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func ms(d time.Duration) *float64 {
	v := math.Round(float64(d)/float64(time.Millisecond)*1000) / 1000
	return &v
}

func (cr *checkResult) endpoint() endpointResult {
	e := endpointResult{
		Addr:   cr.route.Addr,
		Rule:   cr.route.Rule,
		Target: cr.route.Target,
		Via:    cr.route.Via,
		OK:     cr.err == nil,
	}
	if e.Addr == "" {
		e.Addr = cr.spec.addr
	}
	if cr.connected {
		e.ConnectMS = ms(cr.connect)
	}
	if cr.tlsOK {
		e.ServerName = cr.serverName
		e.TLSMS = ms(cr.handshake)
	}
	if cr.err != nil {
		e.Error = cr.err.Error()
	}
	return e
}

func (cr *checkResult) broker(b kmsg.MetadataResponseBroker) brokerResult {
	r := brokerResult{
		NodeID:        b.NodeID,
		Advertised:    net.JoinHostPort(b.Host, fmt.Sprint(b.Port)),
		Rack:          deref(b.Rack),
		Rule:          cr.route.Rule,
		Target:        cr.route.Target,
		Via:           cr.route.Via,
		APIVersions:   cr.apiOK,
		NodeConfirmed: cr.confirmed,
		OK:            cr.err == nil,
	}
	if cr.err != nil {
		r.Error = cr.err.Error()
	}
	if cr.connected {
		r.ConnectMS = ms(cr.connect)
	}
	if cr.tlsOK {
		r.ServerName = cr.serverName
		r.TLSMS = ms(cr.handshake)
	}
	if cr.apiOK {
		r.APIVersionsMS = ms(cr.api)
	}
	// Whether the advertised name resolves is known when the dial looked it
	// up: no rule, and a name rather than an IP address.
	if cr.route.Rule == "" && cr.route.Target == r.Advertised && net.ParseIP(b.Host) == nil && cr.stage != "route" {
		switch {
		case cr.connected:
			v := true
			r.Resolves = &v
		case cr.notFound:
			v := false
			r.Resolves = &v
		}
	}
	return r
}

// fmtMS formats a duration given in milliseconds for the table.
func fmtMS(v *float64) string {
	switch {
	case v == nil:
		return "-"
	case *v < 10:
		return fmt.Sprintf("%.2fms", *v)
	case *v < 1000:
		return fmt.Sprintf("%.1fms", *v)
	}
	return fmt.Sprintf("%.2fs", *v/1000)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// writeProbeTable prints the result for people: the bootstrap, a table of
// brokers, then what went wrong for each failed broker and the rules the
// probe proposes.
func writeProbeTable(w io.Writer, res *probeResult, withTLS bool) {
	for _, b := range res.Bootstrap {
		fmt.Fprintf(w, "bootstrap %s", b.Addr)
		if b.Target != b.Addr {
			fmt.Fprintf(w, " => %s", b.Target)
		}
		if b.Rule != "" {
			fmt.Fprintf(w, " (rule %s)", b.Rule)
		}
		if b.Via != "" {
			fmt.Fprintf(w, " via %s", b.Via)
		}
		if b.OK {
			fmt.Fprintf(w, ": ok, connect %s", fmtMS(b.ConnectMS))
			if withTLS {
				fmt.Fprintf(w, ", tls %s", fmtMS(b.TLSMS))
			}
			fmt.Fprintln(w)
		} else {
			fmt.Fprintf(w, ": FAILED\n  error: %s\n", b.Error)
			if b.Hint != "" {
				fmt.Fprintf(w, "  hint:  %s\n", b.Hint)
			}
		}
	}
	if res.Error != "" {
		fmt.Fprintf(w, "\nerror: %s\n", res.Error)
		if res.Hint != "" {
			fmt.Fprintf(w, "hint:  %s\n", res.Hint)
		}
	}
	if len(res.Brokers) == 0 {
		return
	}
	fmt.Fprintf(w, "cluster %s", dash(res.ClusterID))
	if res.ControllerID != nil {
		fmt.Fprintf(w, ", controller %d", *res.ControllerID)
	}
	fmt.Fprintf(w, ", %d brokers\n\n", len(res.Brokers))

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	hdr := "NODE\tADVERTISED\tRULE\tTARGET\tVIA\tCONNECT"
	if withTLS {
		hdr += "\tTLS"
	}
	fmt.Fprintln(tw, hdr+"\tAPIVERSIONS\tSTATUS")
	for _, b := range res.Brokers {
		row := fmt.Sprintf("%d\t%s\t%s\t%s\t%s\t%s", b.NodeID, b.Advertised, dash(b.Rule), b.Target, dash(b.Via), fmtMS(b.ConnectMS))
		if withTLS {
			row += "\t" + fmtMS(b.TLSMS)
		}
		api := fmtMS(b.APIVersionsMS)
		status := "ok"
		switch {
		case !b.OK:
			status = "FAILED"
		case !b.NodeConfirmed:
			status = "ok (node id unconfirmed)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", row, api, status)
	}
	tw.Flush()

	var failed int
	var proposals []string
	for _, b := range res.Brokers {
		if b.OK {
			continue
		}
		failed++
		fmt.Fprintf(w, "\nnode %d (%s):\n  error: %s\n", b.NodeID, b.Advertised, b.Error)
		if b.Hint != "" {
			fmt.Fprintf(w, "  hint:  %s\n", b.Hint)
		}
		if b.Proposal != nil {
			state := "unverified"
			if b.Proposal.Verified {
				state = "verified"
			}
			fmt.Fprintf(w, "  proposed rule (%s: %s):\n    %s\n", state, b.Proposal.Note, b.Proposal.Rule)
			proposals = append(proposals, b.Proposal.Rule)
		}
	}
	fmt.Fprintln(w)
	if failed == 0 {
		fmt.Fprintf(w, "all %d brokers answer\n", len(res.Brokers))
		return
	}
	fmt.Fprintf(w, "%d of %d brokers answer\n", len(res.Brokers)-failed, len(res.Brokers))
	if len(proposals) > 0 {
		fmt.Fprintf(w, "\nproposed rules (add them to a rules file, or to KAFKADIAL_RULES):\n  %s\n", strings.Join(proposals, "\n  "))
	}
}
