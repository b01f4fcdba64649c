// Command kubenode stands in for a node's kubelet, for the one thing the
// API server asks of it in kafkadial's tests: pods/portforward. It serves
// the kubelet's port-forward endpoint (/portForward/NAMESPACE/POD) over TLS
// with the kubelet's own code: the CRI streaming server of
// k8s.io/cri-streaming behind apimachinery's upgrade-aware proxy, and
// apiserver's tunnelling handler for WebSocket-tunnelled requests, as
// pkg/kubelet/server does. Its "runtime" forwards each pod port to a
// loopback address, read from a JSON file at every request:
//
//	{"NAMESPACE/POD": {"9092": "127.0.0.1:40001"}}
//
// A pod missing from the file does not exist on this node (404, as the
// kubelet answers); a port missing is refused by the runtime. Each request
// is logged on stderr as "portforward NAMESPACE/POD websocket|spdy". With
// -websockets=false it answers a WebSocket-tunnelled request as a kubelet
// without ExtendWebSocketsToKubelet does: 400.
//
//	kubenode -addr 127.0.0.1:10250 -cert node.crt -key node.key -client-ca ca.crt -pods pods.json
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/httpstream/wsstream"
	"k8s.io/apimachinery/pkg/util/proxy"
	translator "k8s.io/apiserver/pkg/util/proxy"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/cri-streaming/pkg/streaming"
	"k8s.io/cri-streaming/pkg/streaming/portforward"
	remotecommandserver "k8s.io/cri-streaming/pkg/streaming/remotecommand"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:10250", "HTTPS address the API server reaches (the Node's InternalIP and kubelet port)")
	cert := flag.String("cert", "", "serving certificate (PEM)")
	key := flag.String("key", "", "serving key (PEM)")
	clientCA := flag.String("client-ca", "", "CA of the API server's kubelet client certificate (PEM)")
	pods := flag.String("pods", "", "JSON file mapping NAMESPACE/POD to {PORT: loopback host:port}")
	webSockets := flag.Bool("websockets", true, "serve WebSocket-tunnelled port-forward (the kubelet's ExtendWebSocketsToKubelet); off, such a request fails as on an older kubelet")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("kubenode: ")
	if *cert == "" || *key == "" || *clientCA == "" || *pods == "" {
		log.Fatal("-cert, -key, -client-ca and -pods are required")
	}
	pem, err := os.ReadFile(*clientCA)
	if err != nil {
		log.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		log.Fatalf("%s: no certificate", *clientCA)
	}
	pair, err := tls.LoadX509KeyPair(*cert, *key)
	if err != nil {
		log.Fatal(err)
	}

	rt := &runtime{file: *pods}
	// The CRI streaming server, as a container runtime runs it, on its own
	// loopback port; the kubelet proxies to the URLs it hands out.
	sln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	cfg := streaming.DefaultConfig
	cfg.Addr = sln.Addr().String()
	cfg.BaseURL = &url.URL{Scheme: "http", Host: sln.Addr().String()}
	ss, err := streaming.NewServer(cfg, rt)
	if err != nil {
		log.Fatal(err)
	}
	go http.Serve(sln, ss)

	mux := http.NewServeMux()
	h := &node{rt: rt, streams: ss, webSockets: *webSockets}
	mux.HandleFunc("/portForward/{namespace}/{pod}", h.portForward)
	mux.HandleFunc("/portForward/{namespace}/{pod}/{uid}", h.portForward)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{
		Handler: mux,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{pair},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    pool,
			NextProtos:   []string{"http/1.1"}, // upgrades need HTTP/1.1
		},
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		os.Exit(0)
	}()
	log.Printf("serving on %s", ln.Addr())
	if err := srv.ServeTLS(ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

type node struct {
	rt         *runtime
	streams    streaming.Server
	webSockets bool
}

// portForward is the kubelet's getPortForward.
func (n *node) portForward(w http.ResponseWriter, r *http.Request) {
	ns, pod := r.PathValue("namespace"), r.PathValue("pod")
	tunnel := n.webSockets && wsstream.IsWebSocketRequestWithTunnelingProtocol(r)
	opts := &portforward.V4Options{}
	if !tunnel {
		var err error
		if opts, err = portforward.NewV4Options(r); err != nil {
			log.Printf("portforward %s/%s refused: %v", ns, pod, err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	if _, ok := n.rt.pod(ns + "/" + pod); !ok {
		http.Error(w, "pod does not exist", http.StatusNotFound)
		return
	}
	resp, err := n.streams.GetPortForward(&runtimeapi.PortForwardRequest{PodSandboxId: ns + "/" + pod, Port: opts.Ports})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	u, err := url.Parse(resp.Url)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var h http.Handler = proxy.NewUpgradeAwareHandler(u, nil, false, true, responder{})
	kind := "spdy"
	if tunnel {
		h, kind = translator.NewTunnelingHandler(h), "websocket"
	}
	log.Printf("portforward %s/%s %s", ns, pod, kind)
	h.ServeHTTP(w, r)
}

type responder struct{}

func (responder) Error(w http.ResponseWriter, r *http.Request, err error) {
	http.Error(w, err.Error(), http.StatusInternalServerError)
}

// runtime forwards pod ports to loopback addresses.
type runtime struct {
	file string
	mu   sync.Mutex
}

func (rt *runtime) pod(id string) (map[string]string, bool) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	data, err := os.ReadFile(rt.file)
	if err != nil {
		log.Printf("reading %s: %v", rt.file, err)
		return nil, false
	}
	var m map[string]map[string]string
	if err := json.Unmarshal(data, &m); err != nil {
		log.Printf("reading %s: %v", rt.file, err)
		return nil, false
	}
	ports, ok := m[id]
	return ports, ok
}

func (rt *runtime) PortForward(ctx context.Context, podSandboxID string, port int32, stream io.ReadWriteCloser) error {
	ports, ok := rt.pod(podSandboxID)
	if !ok {
		return fmt.Errorf("pod %s is gone", podSandboxID)
	}
	target := ports[strconv.Itoa(int(port))]
	if target == "" {
		return fmt.Errorf("failed to connect to port %d of pod %s: connection refused", port, podSandboxID)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		return fmt.Errorf("failed to connect to port %d of pod %s: %w", port, podSandboxID, err)
	}
	defer c.Close()
	go func() {
		io.Copy(c, stream)
		c.(*net.TCPConn).CloseWrite() // the client's end of stream reaches the pod
	}()
	// The pod closing its side ends the forwarding, as a container's
	// socket closing does.
	_, err = io.Copy(stream, c)
	return err
}

func (rt *runtime) Exec(context.Context, string, []string, io.Reader, io.WriteCloser, io.WriteCloser, bool, <-chan remotecommandserver.TerminalSize) error {
	return errors.New("exec is not supported")
}

func (rt *runtime) Attach(context.Context, string, io.Reader, io.WriteCloser, io.WriteCloser, bool, <-chan remotecommandserver.TerminalSize) error {
	return errors.New("attach is not supported")
}
