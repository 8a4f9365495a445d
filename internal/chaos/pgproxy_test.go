package chaos

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
)

// pgProxy is a TCP proxy on loopback in front of the shared PostgreSQL: the
// job's processes connect through it, and an outage cuts every connection
// and refuses new ones without touching the server other tests use. A
// refused connection is accepted and reset at once, so that the attempts
// the outage met can be counted.
type pgProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]bool // open sockets; true: a client's
	cut    int               // connections cut when an outage began
	denied int               // connections refused during an outage
}

// startPGProxy starts a proxy to the host of dbURL and returns it with dbURL
// rewritten to go through it.
func startPGProxy(t *testing.T, dbURL string) (*pgProxy, string) {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pgProxy{ln: ln, target: u.Host, conns: map[net.Conn]bool{}}
	go p.serve()
	t.Cleanup(p.close)
	u.Host = ln.Addr().String()
	return p, u.String()
}

func (p *pgProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.denied++
			p.mu.Unlock()
			reset(c)
			continue
		}
		p.mu.Unlock()
		go p.pipe(c)
	}
}

// pipe joins a client to the server until either side ends or an outage
// cuts them.
func (p *pgProxy) pipe(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		reset(c)
		return
	}
	p.mu.Lock()
	if p.down {
		p.denied++
		p.mu.Unlock()
		reset(c)
		s.Close()
		return
	}
	p.conns[c], p.conns[s] = true, false
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { io.Copy(s, c); done <- struct{}{} }()
	go func() { io.Copy(c, s); done <- struct{}{} }()
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, s)
	p.mu.Unlock()
	c.Close()
	s.Close()
}

// outage starts (true) or ends (false) an outage; starting one cuts every
// connection through the proxy.
func (p *pgProxy) outage(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = on
	if !on {
		return
	}
	for c, client := range p.conns {
		reset(c)
		if client {
			p.cut++
		}
		delete(p.conns, c)
	}
}

// counts returns the connections cut and refused so far.
func (p *pgProxy) counts() (cut, denied int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cut, p.denied
}

func (p *pgProxy) close() {
	p.ln.Close()
	p.outage(true)
}

// reset closes c with a TCP reset, as a server that is gone would.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}
