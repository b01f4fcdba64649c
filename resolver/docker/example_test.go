package docker_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/kafkadial/kafkadial/dialer"
	"github.com/kafkadial/kafkadial/resolver/docker"
)

// A dialer with no rules that reaches containers by the names the brokers
// advertise: the engine says which host port publishes each, even a random
// one, and follows it across restarts.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := docker.New(ctx) // DOCKER_HOST, the docker CLI's context, or /var/run/docker.sock
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	d, err := dialer.New(dialer.WithResolver(r), dialer.WithStrict())
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	// Hand d to a client: franzdial.Opt(d), saramadial.Configure(cfg, d),
	// kafkagodial.Transport(d). Or explain a route:
	rt, err := d.Route("kafka-3:29092")
	fmt.Println(rt.Target, rt.Detail, err) // Detail: "docker container kafka-3 (3f2a1c9d4e5b) by alias"
}

// Docker Desktop, rootless and remote engines: only published ports are
// answered, which the resolver decides by itself; WithPublishedOnly makes
// a Linux engine behave the same.
func ExampleWithPublishedOnly() {
	r, err := docker.New(context.Background(), docker.WithHost("unix:///var/run/docker.sock"), docker.WithPublishedOnly())
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	addrs, err := r.Resolve(context.Background(), "kafka-1:29092")
	fmt.Println(addrs, err) // [127.0.0.1:32768] <nil>, or an *UnpublishedError saying what to publish
}

// Snapshot lists what the engine runs, as the resolver sees it.
func ExampleResolver_Snapshot() {
	r, err := docker.New(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	s := r.Snapshot()
	for _, c := range s.Containers {
		for _, p := range c.Ports {
			fmt.Println(c.Name, c.State, p.Port, p.Published)
		}
	}
}
