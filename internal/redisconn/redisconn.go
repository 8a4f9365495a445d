package redisconn

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Kind says what a URL names.
type Kind string

// The kinds of deployment a URL can name.
const (
	Single   Kind = "single"
	Sentinel Kind = "sentinel"
	Cluster  Kind = "cluster"
)

// Conn is a parsed Redis URL.
type Conn struct {
	Kind Kind
	// Addr names the server, master or seed nodes for logs; it never holds
	// the password.
	Addr string

	single   *redis.Options
	failover *redis.FailoverOptions
	cluster  *redis.ClusterOptions
}

// NewClient returns a new go-redis client for the URL: a plain, failover or
// cluster client. The caller closes it. The job store, the limiter and the
// queue (pipeline/queue) all connect through it.
func (c Conn) NewClient() redis.UniversalClient {
	switch c.Kind {
	case Sentinel:
		return redis.NewFailoverClient(c.failover)
	case Cluster:
		return redis.NewClusterClient(c.cluster)
	}
	return redis.NewClient(c.single)
}

// Parse reads a Redis URL in one of the forms the package documents. Errors
// never repeat the URL, which may hold a password.
func Parse(raw string) (Conn, error) {
	scheme, _, ok := strings.Cut(raw, "://")
	if !ok {
		return Conn{}, errors.New("not a Redis URL: want redis://, rediss://, unix://, redis-sentinel:// or redis-cluster://")
	}
	switch scheme {
	case "redis", "rediss", "unix":
		return parseSingle(raw)
	case "redis-sentinel":
		return parseSentinel(raw)
	case "redis-cluster":
		return parseCluster(raw)
	}
	return Conn{}, fmt.Errorf("unknown Redis URL scheme %q: want redis, rediss, unix, redis-sentinel or redis-cluster", scheme)
}

func parseSingle(raw string) (Conn, error) {
	o, err := redis.ParseURL(raw)
	if err != nil {
		return Conn{}, scrub(err, raw)
	}
	return Conn{Kind: Single, Addr: o.Addr, single: o}, nil
}

// multiHost is the common part of the Sentinel and Cluster forms: a
// comma-separated host list, credentials and the path's segments.
type multiHost struct {
	addrs          []string
	user, password string
	path           []string
	query          url.Values
}

func parseMultiHost(raw, what string) (multiHost, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return multiHost{}, scrub(err, raw)
	}
	var m multiHost
	if u.User != nil {
		m.user = u.User.Username()
		m.password, _ = u.User.Password()
	}
	for _, h := range strings.Split(u.Host, ",") {
		host, port, err := net.SplitHostPort(h)
		if err != nil || host == "" || port == "" {
			return m, fmt.Errorf("%s address %q: want HOST:PORT", what, h)
		}
		m.addrs = append(m.addrs, h)
	}
	for _, s := range strings.Split(strings.Trim(u.Path, "/"), "/") {
		if s != "" {
			m.path = append(m.path, s)
		}
	}
	m.query = u.Query()
	return m, nil
}

func parseSentinel(raw string) (Conn, error) {
	m, err := parseMultiHost(raw, "sentinel")
	if err != nil {
		return Conn{}, err
	}
	if len(m.path) == 0 || len(m.path) > 2 {
		return Conn{}, errors.New("redis-sentinel URL: want /MASTER or /MASTER/DB after the sentinel addresses")
	}
	db := 0
	if len(m.path) == 2 {
		if db, err = strconv.Atoi(m.path[1]); err != nil || db < 0 {
			return Conn{}, fmt.Errorf("redis-sentinel URL: database %q is not a number", m.path[1])
		}
	}
	for k := range m.query {
		if k != "sentinel_password" {
			return Conn{}, fmt.Errorf("redis-sentinel URL: unknown parameter %q (only sentinel_password)", k)
		}
	}
	fo := &redis.FailoverOptions{
		MasterName: m.path[0], SentinelAddrs: m.addrs, SentinelPassword: m.query.Get("sentinel_password"),
		Username: m.user, Password: m.password, DB: db,
	}
	return Conn{Kind: Sentinel, Addr: m.path[0] + "@" + strings.Join(m.addrs, ","), failover: fo}, nil
}

func parseCluster(raw string) (Conn, error) {
	m, err := parseMultiHost(raw, "cluster")
	if err != nil {
		return Conn{}, err
	}
	if len(m.path) > 1 || len(m.path) == 1 && m.path[0] != "0" {
		return Conn{}, errors.New("redis-cluster URL: a Cluster has only database 0; give no path")
	}
	if len(m.query) > 0 {
		return Conn{}, errors.New("redis-cluster URL: takes no parameters")
	}
	co := &redis.ClusterOptions{Addrs: m.addrs, Username: m.user, Password: m.password}
	return Conn{Kind: Cluster, Addr: strings.Join(m.addrs, ","), cluster: co}, nil
}

// scrub removes the URL from a parse error: url.Parse quotes its input,
// password and all.
func scrub(err error, raw string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("invalid Redis URL: %w", ue.Err)
	}
	return errors.New(strings.ReplaceAll(err.Error(), raw, "<url>"))
}
