// register: the Go version of examples/c/register.c. Registers host:port under a service,
// prints the service's servers whenever they change, and leaves cleanly on SIGINT/SIGTERM or
// after -seconds.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	"ndsr"
)

func main() {
	server := flag.String("server", os.Getenv("NDSR_SERVER"), "ZooKeeper connect string")
	service := flag.String("service", "/services/demo-go", "service path")
	name := flag.String("name", "host1:8080", "this server's name")
	seconds := flag.Float64("seconds", -1, "exit after this many seconds (default: run until a signal)")
	flag.Parse()

	r, err := ndsr.Open(*server, map[string]string{"timeout_ms": "5000"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer r.Close()
	if _, err := r.SetNode(*service+"/"+*name, map[string]interface{}{"state": "up"}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sub, err := r.OnChange(*service, func(d *ndsr.Document) {
		names := make([]string, 0, len(d.Children))
		for n := range d.Children {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Printf("%s servers: %v\n", d.Path, names)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer sub.Close()

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	var timeout <-chan time.Time
	if *seconds >= 0 {
		timeout = time.After(time.Duration(*seconds * float64(time.Second)))
	}
	select {
	case <-stop:
	case <-timeout:
	}
	fmt.Println("leaving")
}
