package proxy

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// A discoverBroker is one broker of the bootstrap broker's metadata.
type discoverBroker struct {
	id   int32
	addr string
}

// discoverError is a failure after the bootstrap broker was dialled: it
// did not answer the metadata request as expected.
type discoverError struct{ err error }

func (e *discoverError) Error() string { return e.err.Error() }
func (e *discoverError) Unwrap() error { return e.err }

// discover asks the broker at addr, dialled through d, for the brokers of
// its cluster: ApiVersions v0, then Metadata (no topics) at the highest
// version both kmsg and the broker know.
func discover(ctx context.Context, d ContextDialer, addr string) ([]discoverBroker, error) {
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(0)
	resp, err := roundTrip(c, av, 1)
	if err != nil {
		return nil, &discoverError{fmt.Errorf("ApiVersions: %w", ctxErr(ctx, err))}
	}
	avr := resp.(*kmsg.ApiVersionsResponse)
	maxMeta := int16(-1)
	for _, k := range avr.ApiKeys {
		if k.ApiKey == 3 {
			maxMeta = min(k.MaxVersion, (&kmsg.MetadataRequest{}).MaxVersion())
		}
	}
	if avr.ErrorCode != 0 || maxMeta < 0 {
		return nil, &discoverError{fmt.Errorf("ApiVersions: error code %d, Metadata max version %d", avr.ErrorCode, maxMeta)}
	}
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(maxMeta)
	md.Topics = []kmsg.MetadataRequestTopic{} // none (nil asks for all before v1... and after)
	resp, err = roundTrip(c, md, 2)
	if err != nil {
		return nil, &discoverError{fmt.Errorf("asking for Metadata v%d: %w", maxMeta, ctxErr(ctx, err))}
	}
	var bs []discoverBroker
	for _, b := range resp.(*kmsg.MetadataResponse).Brokers {
		bs = append(bs, discoverBroker{id: b.NodeID, addr: net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))})
	}
	return bs, nil
}

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	return err
}

// roundTrip writes req and reads its response, bounded by 1 MiB.
func roundTrip(c net.Conn, req kmsg.Request, corr int32) (kmsg.Response, error) {
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("kafkadial-proxy"))
	if _, err := c.Write(f.AppendRequest(nil, req, corr)); err != nil {
		return nil, err
	}
	var h [8]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		return nil, err
	}
	if looksTLS(h[:]) {
		return nil, errors.New(hintUpstreamTLS)
	}
	size := int32(binary.BigEndian.Uint32(h[:4]))
	if size < 4 || size > 1<<20 {
		return nil, fmt.Errorf("response of %d bytes", size)
	}
	if got := int32(binary.BigEndian.Uint32(h[4:])); got != corr {
		return nil, fmt.Errorf("correlation id %d, want %d", got, corr)
	}
	body := make([]byte, size-4)
	if _, err := io.ReadFull(c, body); err != nil {
		return nil, err
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != 18 {
		n, err := skipTags(body)
		if err != nil {
			return nil, err
		}
		body = body[n:]
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, err
	}
	return resp, nil
}
