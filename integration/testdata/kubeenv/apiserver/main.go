// Command apiserver is a real kube-apiserver (k8s.io/kubernetes's own
// command) with an embedded etcd, for tests on loopback.
//
//	apiserver -etcd-dir DIR -- [kube-apiserver flags]
//
// It starts etcd on a free loopback port with its data in DIR, then runs
// kube-apiserver with --etcd-servers pointing at it and the flags after
// "--". It stops when kube-apiserver does or on SIGTERM.
package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	fs := flag.NewFlagSet("apiserver", flag.ExitOnError)
	dir := fs.String("etcd-dir", "", "etcd data directory (required)")
	fs.Parse(os.Args[1:])
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "apiserver: -etcd-dir is required")
		os.Exit(2)
	}
	cfg := embed.NewConfig()
	cfg.Dir = *dir
	cfg.LogLevel = "error"
	loop := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg.ListenClientUrls = []url.URL{loop}
	cfg.AdvertiseClientUrls = []url.URL{loop}
	cfg.ListenPeerUrls = []url.URL{loop}
	cfg.AdvertisePeerUrls = []url.URL{{Scheme: "http", Host: "127.0.0.1:2380"}}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "apiserver: etcd:", err)
		os.Exit(1)
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		fmt.Fprintln(os.Stderr, "apiserver: etcd not ready after 30s")
		os.Exit(1)
	}
	etcdURL := "http://" + e.Clients[0].Addr().String()

	cmd := app.NewAPIServerCommand()
	cmd.SetArgs(append([]string{"--etcd-servers=" + etcdURL}, fs.Args()...))
	code := cli.Run(cmd)
	e.Close()
	os.Exit(code)
}
