// Command tcpname is the smallest server for the Docker suites' images: it
// listens on each TCP port given as an argument and answers every
// connection with one line, "NAME PORT", where NAME is $NAME or the
// container's hostname, then closes it. A test that dials an address the
// Docker resolver chose reads which container and port it reached.
//
//	tcpname 29092 9093
package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	name := os.Getenv("NAME")
	if name == "" {
		name, _ = os.Hostname()
	}
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: tcpname PORT...")
		os.Exit(2)
	}
	for _, port := range os.Args[1:] {
		ln, err := net.Listen("tcp", ":"+port)
		if err != nil {
			fmt.Fprintln(os.Stderr, "tcpname:", err)
			os.Exit(1)
		}
		fmt.Printf("listening on %s\n", ln.Addr())
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				fmt.Fprintf(c, "%s %s\n", name, port)
				c.Close()
			}
		}()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
}
