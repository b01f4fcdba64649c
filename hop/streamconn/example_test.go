package streamconn_test

import (
	"fmt"
	"io"
	"net"
	"time"

	"github.com/kafkadial/kafkadial/hop/streamconn"
)

// A stream with no deadlines of its own (here one end of a loopback TCP
// connection, standing for a tunnel's stream) gets them from a Conn.
func Example() {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		peer, _ := ln.Accept()
		io.Copy(peer, peer) // echo
		peer.Close()
	}()
	s, _ := net.Dial("tcp", ln.Addr().String())

	c := streamconn.New(s.(*net.TCPConn), streamconn.Options{Local: s.LocalAddr(), Remote: s.RemoteAddr()})
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte("ping"))
	c.CloseWrite()
	reply, err := io.ReadAll(c)
	fmt.Printf("%s %v\n", reply, err)

	c.SetReadDeadline(time.Now())
	_, err = c.Read(make([]byte, 1))
	fmt.Println(err.(net.Error).Timeout())
	// Output:
	// ping <nil>
	// true
}
