package proxy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The keys whose responses the proxy rewrites.
const (
	keyProduce          = 0
	keyFetch            = 1
	keyMetadata         = 3
	keyFindCoordinator  = 10
	keyApiVersions      = 18
	keyDescribeCluster  = 60
	keyShareFetch       = 78
	keyShareAcknowledge = 79
)

// rewriteMax is the highest version of key whose responses the proxy can
// rewrite (kmsg's), or -1 when it does not rewrite key's responses.
func rewriteMax(key int16) int16 {
	switch key {
	case keyProduce:
		return (*kmsg.ProduceResponse)(nil).MaxVersion()
	case keyFetch:
		return (*kmsg.FetchResponse)(nil).MaxVersion()
	case keyMetadata:
		return (*kmsg.MetadataResponse)(nil).MaxVersion()
	case keyFindCoordinator:
		return (*kmsg.FindCoordinatorResponse)(nil).MaxVersion()
	case keyApiVersions:
		return (*kmsg.ApiVersionsResponse)(nil).MaxVersion()
	case keyDescribeCluster:
		return (*kmsg.DescribeClusterResponse)(nil).MaxVersion()
	case keyShareFetch:
		return (*kmsg.ShareFetchResponse)(nil).MaxVersion()
	case keyShareAcknowledge:
		return (*kmsg.ShareAcknowledgeResponse)(nil).MaxVersion()
	}
	return -1
}

// rewrites reports whether the response to key at version carries broker
// addresses (or, for ApiVersions, version ranges) the proxy rewrites.
// NodeEndpoints (KIP-951) are a tagged field: brokers send them in
// Produce v10+ and Fetch v16+, but a tag can come in any flexible version
// (Produce v9+, Fetch v12+), so those are read too.
func rewrites(key, version int16) bool {
	switch key {
	case keyProduce:
		return version >= 9
	case keyFetch:
		return version >= 12
	}
	return rewriteMax(key) >= 0
}

// A mapper gives the address responses name node id by, given the
// address the broker named it by; id < 0 is no node.
type mapper func(id int32, host string, port int32) (string, int32)

const errUnsupportedVersion = 35

// rewriteBody rewrites the body of a response (the bytes after the
// correlation id) to key at version. The result is body[:keep] followed
// by tail; a nil tail means body unchanged. tail is appended to out.
func rewriteBody(key, version int16, body, out []byte, m mapper) (keep int, tail []byte, err error) {
	if rewriteMax(key) < version || version < 0 {
		return 0, nil, fmt.Errorf("version beyond v%d", rewriteMax(key))
	}
	if key == keyProduce || key == keyFetch {
		// Flexible (rewrites says so): header tags, then the message,
		// walked without decoding it.
		hdr, err := skipTags(body)
		if err != nil {
			return 0, nil, fmt.Errorf("header: %w", err)
		}
		return rewriteEndpoints(key, version, body, hdr, out, m)
	}
	resp := kmsg.ResponseForKey(key)
	resp.SetVersion(version)
	hdr := 0
	if key != keyApiVersions && resp.IsFlexible() {
		if hdr, err = skipTags(body); err != nil {
			return 0, nil, fmt.Errorf("header: %w", err)
		}
	}
	msg := body[hdr:]
	switch key {
	case keyApiVersions:
		if len(msg) >= 2 && int16(binary.BigEndian.Uint16(msg)) == errUnsupportedVersion {
			resp.SetVersion(0) // brokers answer UNSUPPORTED_VERSION as v0
		}
		if err = resp.ReadFrom(msg); err != nil && resp.GetVersion() != 0 {
			resp.SetVersion(0)
			err = resp.ReadFrom(msg)
		}
	default:
		err = resp.ReadFrom(msg)
	}
	if err != nil {
		return 0, nil, err
	}
	if err := rewriteAddrs(resp, m); err != nil {
		return 0, nil, err
	}
	return hdr, resp.AppendTo(out), nil
}

// rewriteAddrs rewrites every broker address in resp, and caps
// ApiVersions.
func rewriteAddrs(resp kmsg.Response, m mapper) error {
	switch r := resp.(type) {
	case *kmsg.MetadataResponse:
		for i := range r.Brokers {
			b := &r.Brokers[i]
			b.Host, b.Port = m(b.NodeID, b.Host, b.Port)
		}
	case *kmsg.FindCoordinatorResponse:
		// Node -1 is "no coordinator" (an error): left as it is.
		if r.Version < 4 && r.NodeID != -1 {
			r.Host, r.Port = m(r.NodeID, r.Host, r.Port)
		}
		for i := range r.Coordinators {
			c := &r.Coordinators[i]
			if c.NodeID != -1 {
				c.Host, c.Port = m(c.NodeID, c.Host, c.Port)
			}
		}
	case *kmsg.DescribeClusterResponse:
		// Controllers (EndpointType 2) come only from a controller at the
		// bootstrap address, and are nodes the proxy serves like brokers.
		for i := range r.Brokers {
			b := &r.Brokers[i]
			b.Host, b.Port = m(b.NodeID, b.Host, b.Port)
		}
	case *kmsg.ShareFetchResponse:
		for i := range r.NodeEndpoints {
			b := &r.NodeEndpoints[i]
			b.Host, b.Port = m(b.NodeID, b.Host, b.Port)
		}
	case *kmsg.ShareAcknowledgeResponse:
		for i := range r.NodeEndpoints {
			b := &r.NodeEndpoints[i]
			b.Host, b.Port = m(b.NodeID, b.Host, b.Port)
		}
	case *kmsg.ProduceResponse:
		for i := range r.Brokers {
			b := &r.Brokers[i]
			b.Host, b.Port = m(b.NodeID, b.Host, b.Port)
		}
	case *kmsg.FetchResponse:
		for i := range r.Brokers {
			b := &r.Brokers[i]
			b.Host, b.Port = m(b.NodeID, b.Host, b.Port)
		}
	case *kmsg.ApiVersionsResponse:
		capApiVersions(r)
	default:
		return errors.New("no rewriter") // unreachable: rewrites lists the keys
	}
	return nil
}

// capApiVersions lowers the maximum version of every key whose responses
// the proxy rewrites to the highest it can rewrite, and drops a key whose
// range lies wholly above that. Other keys stay as the broker says.
func capApiVersions(r *kmsg.ApiVersionsResponse) {
	keys := r.ApiKeys[:0]
	for _, k := range r.ApiKeys {
		if mx := rewriteMax(k.ApiKey); mx >= 0 && k.MaxVersion > mx {
			if k.MinVersion > mx {
				continue
			}
			k.MaxVersion = mx
		}
		keys = append(keys, k)
	}
	r.ApiKeys = keys
}

// rewriteEndpoints rewrites the NodeEndpoints (KIP-951) of a Produce
// (v9+) or Fetch (v12+) response without decoding its records: it walks
// the message by lengths to the top-level tagged fields and, only when
// tag 0 (NodeEndpoints) is there, decodes those tags with kmsg (around a
// response with no topics) and re-encodes them.
func rewriteEndpoints(key, version int16, body []byte, hdr int, out []byte, m mapper) (keep int, tail []byte, err error) {
	msg := body[hdr:]
	var off int
	if key == keyProduce {
		off, err = produceTagsAt(msg, version)
	} else {
		off, err = fetchTagsAt(msg, version)
	}
	if err != nil {
		return 0, nil, err
	}
	has, err := hasTag0(msg[off:])
	if err != nil {
		return 0, nil, fmt.Errorf("top-level tags: %w", err)
	}
	if !has {
		return len(body), nil, nil
	}
	// A response with no topics and these tags: Fetch's fixed fields
	// (throttle, error code, session id) or Produce's throttle (which
	// comes after its topics) are taken from the message.
	var synth []byte
	var pre int // length of the fixed fields and empty topics in synth
	var resp kmsg.Response
	if key == keyFetch {
		synth = append(append(append(out, msg[:10]...), 1), msg[off:]...)
		pre, resp = 11, &kmsg.FetchResponse{Version: version}
		keep = hdr + off
	} else {
		synth = append(append(append(out, 1), msg[off-4:off]...), msg[off:]...)
		pre, resp = 5, &kmsg.ProduceResponse{Version: version}
		keep = hdr + off
	}
	if err := resp.ReadFrom(synth[len(out):]); err != nil {
		return 0, nil, fmt.Errorf("NodeEndpoints: %w", err)
	}
	if err := rewriteAddrs(resp, m); err != nil {
		return 0, nil, err
	}
	enc := resp.AppendTo(synth[len(synth):])
	return keep, append(out, enc[pre:]...), nil
}

// hasTag0 reports whether the tagged-field section b holds tag 0.
func hasTag0(b []byte) (bool, error) {
	w := walker{b: b}
	has := false
	for n := w.uvarint(); n > 0 && w.err == nil; n-- {
		if w.uvarint() == 0 && w.err == nil {
			has = true
		}
		w.skip(int(w.uvarint()))
	}
	return has, w.err
}

// fetchTagsAt returns the offset of a Fetch v12+ response's top-level
// tagged fields (the message after the response header).
func fetchTagsAt(msg []byte, version int16) (int, error) {
	if version < 12 {
		return 0, fmt.Errorf("walking Fetch v%d: only v12 and later are walked", version)
	}
	w := walker{b: msg}
	w.skip(4 + 2 + 4) // throttle, error code, session id
	for t := w.compactLen(); t > 0 && w.err == nil; t-- {
		if version >= 13 {
			w.skip(16) // topic id
		} else {
			w.compactBytes() // topic name
		}
		for p := w.compactLen(); p > 0 && w.err == nil; p-- {
			w.skip(4 + 2 + 8 + 8 + 8) // partition, error code, high watermark, last stable offset, log start offset
			for a := w.compactLen(); a > 0 && w.err == nil; a-- {
				w.skip(8 + 8) // aborted transaction: producer id, first offset
				w.tags()
			}
			w.skip(4)        // preferred read replica
			w.compactBytes() // records, skipped by their length
			w.tags()
		}
		w.tags()
	}
	return w.off, w.err
}

// produceTagsAt returns the offset of a Produce v9+ response's top-level
// tagged fields.
func produceTagsAt(msg []byte, version int16) (int, error) {
	if version < 9 {
		return 0, fmt.Errorf("walking Produce v%d: only v9 and later are walked", version)
	}
	w := walker{b: msg}
	for t := w.compactLen(); t > 0 && w.err == nil; t-- {
		if version >= 13 {
			w.skip(16) // topic id
		} else {
			w.compactBytes() // topic name
		}
		for p := w.compactLen(); p > 0 && w.err == nil; p-- {
			w.skip(4 + 2 + 8 + 8 + 8) // partition, error code, base offset, log append time, log start offset
			for r := w.compactLen(); r > 0 && w.err == nil; r-- {
				w.skip(4)        // relative offset
				w.compactBytes() // error message
				w.tags()
			}
			w.compactBytes() // error message
			w.tags()
		}
		w.tags()
	}
	w.skip(4) // throttle
	return w.off, w.err
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }
