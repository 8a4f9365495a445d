// Package redisconn turns one Redis URL into the go-redis UniversalClient
// cobatch connects with: the job store, the shared limiter, and the queue
// (pipeline/queue has asynq connect through NewClient too). The same URL
// may name a single server, a Sentinel group or a Cluster:
//
//	redis://[:PASSWORD@]HOST:PORT[/DB]                       one server (rediss:// for TLS, unix:///path.sock)
//	redis-sentinel://[:PASSWORD@]H1:26379,H2:26379/MASTER[/DB][?sentinel_password=PW]
//	redis-cluster://[:PASSWORD@]H1:7000,H2:7001              seed nodes of a Cluster
//
// In the Sentinel form the password is the data nodes'; sentinel_password is
// the sentinels' own, when they have one. A Cluster has only database 0. TLS
// is for one server (rediss://): the other forms name several hosts, and one
// URL cannot say which name each certificate carries.
//
//	c, err := redisconn.Parse(os.Getenv("REDIS_URL"))
//	rdb := c.NewClient()          // store, limiter
//	srv := queue.NewServer(c, concurrency, queue.DefaultQueue, shutdown, log)
package redisconn
