package guest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/goaleph/goaleph/internal/compute"
)

// Option configures a Client or a Server.
type Option func(*options)

type options struct {
	maxFrame int
	logs     func(compute.LogLine)
	logQueue int
}

// WithMaxFrameSize bounds the frames sent and received (default
// MaxFrameSize). Both sides should agree.
func WithMaxFrameSize(n int) Option { return func(o *options) { o.maxFrame = n } }

// WithLogs has the client call f with each line the program writes. f runs
// on the client's read loop: it must return quickly and not call the client.
func WithLogs(f func(compute.LogLine)) Option { return func(o *options) { o.logs = f } }

// WithLogQueue sets how many log lines the server keeps while the stream is
// busy (default 1024); lines beyond are dropped and counted.
func WithLogQueue(n int) Option { return func(o *options) { o.logQueue = n } }

func buildOptions(opts []Option) options {
	o := options{maxFrame: MaxFrameSize, logQueue: 1024}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Client is the host's end of the protocol: it configures the program,
// sends requests and halts the guest. Its methods are safe for concurrent
// use; calls are multiplexed on the one stream by id.
type Client struct {
	s    *stream
	logs func(compute.LogLine)

	hello   chan struct{} // closed on the guest's hello
	version string        // set before hello is closed

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan *Message

	wg sync.WaitGroup // read loop and cancel senders
}

// Dial starts the host's end on conn, a stream to a guest agent (Unix
// socket, virtio-serial port). The client owns conn: Close closes it.
func Dial(conn io.ReadWriteCloser, opts ...Option) *Client {
	o := buildOptions(opts)
	c := &Client{
		s:       newStream(conn, o.maxFrame, 0),
		logs:    o.logs,
		hello:   make(chan struct{}),
		pending: make(map[uint64]chan *Message),
	}
	c.wg.Add(1)
	go c.readLoop()
	return c
}

func (c *Client) readLoop() {
	defer c.wg.Done()
	defer c.failPending()
	helloSeen := false
	for {
		m, err := c.s.read()
		if err != nil {
			return
		}
		switch m.Kind {
		case KindHello:
			if !helloSeen {
				helloSeen = true
				c.version = m.Version
				close(c.hello)
			}
		case KindLog:
			if c.logs != nil {
				c.logs(*m.Log)
			}
		case KindConfigResult, KindResponse, KindHaltAck:
			c.mu.Lock()
			ch := c.pending[m.ID]
			delete(c.pending, m.ID)
			c.mu.Unlock()
			if ch != nil {
				ch <- m // buffered, one answer per id
			}
		}
	}
}

// failPending wakes the calls waiting when the stream ends.
func (c *Client) failPending() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, ch := range c.pending {
		close(ch)
		delete(c.pending, id)
	}
}

// Ready waits for the guest's hello and returns its protocol version.
func (c *Client) Ready(ctx context.Context) (string, error) {
	select {
	case <-c.hello:
		return c.version, nil
	case <-ctx.Done():
		return "", ctx.Err()
	case <-c.s.closed:
		// A hello read just before the stream broke still counts.
		select {
		case <-c.hello:
			return c.version, nil
		default:
		}
		return "", c.s.err
	}
}

// Done is closed when the stream has ended (closed, broken, or the guest
// exited after a halt).
func (c *Client) Done() <-chan struct{} { return c.s.closed }

// Err is why the stream ended, once Done is closed.
func (c *Client) Err() error {
	select {
	case <-c.s.closed:
		return c.s.err
	default:
		return nil
	}
}

// roundTrip sends m with a fresh id and waits for the answer. If ctx ends
// first, the answer is abandoned (and dropped when it comes); for requests
// the guest is told with a cancel frame.
func (c *Client) roundTrip(ctx context.Context, m *Message) (*Message, error) {
	ch := make(chan *Message, 1)
	c.mu.Lock()
	if c.Err() != nil {
		c.mu.Unlock()
		return nil, c.Err()
	}
	c.nextID++
	m.ID = c.nextID
	c.pending[m.ID] = ch
	c.mu.Unlock()

	abandon := func() {
		c.mu.Lock()
		_, waiting := c.pending[m.ID]
		delete(c.pending, m.ID)
		c.mu.Unlock()
		if waiting && m.Kind == KindRequest {
			c.cancel(m.ID)
		}
	}
	if err := c.s.send(ctx, m, false); err != nil {
		abandon()
		return nil, err
	}
	select {
	case a, ok := <-ch:
		if !ok {
			return nil, c.s.err
		}
		return a, nil
	case <-ctx.Done():
		abandon()
		return nil, ctx.Err()
	}
}

// cancel tells the guest, in the background, that a request is abandoned.
func (c *Client) cancel(id uint64) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		// Bounded by the stream: Close ends the send.
		c.s.send(context.Background(), &Message{ID: id, Kind: KindCancel}, false)
	}()
}

// Configure waits for the guest's hello, then sends the program's
// configuration and waits until the program has started. A program that
// failed to start gives a *ProgramError.
func (c *Client) Configure(ctx context.Context, cfg *Config) error {
	if _, err := c.Ready(ctx); err != nil {
		return fmt.Errorf("guest not ready: %w", err)
	}
	a, err := c.roundTrip(ctx, &Message{Kind: KindConfig, Config: cfg})
	if err != nil {
		return err
	}
	if !a.Success {
		return &ProgramError{Message: a.Error, Traceback: a.Traceback}
	}
	return nil
}

// Call sends one request and waits for its response. Calls run
// concurrently. A request the program could not answer gives a
// *ProgramError; ctx ending abandons this call only.
func (c *Client) Call(ctx context.Context, s *compute.Scope) (*compute.Response, error) {
	a, err := c.roundTrip(ctx, &Message{Kind: KindRequest, Scope: s})
	if err != nil {
		return nil, err
	}
	if a.Kind != KindResponse {
		return nil, fmt.Errorf("%w: %s answers a request", errMalformed, a.Kind)
	}
	if a.Response == nil {
		return nil, &ProgramError{Message: a.Error, Traceback: a.Traceback}
	}
	if a.Response.Status == 0 {
		// Events are answered without a response start.
		a.Response.Status = 200
	}
	return a.Response, nil
}

// Halt asks the guest to stop the program and waits for its
// acknowledgement; the guest then exits and the stream ends. A stream that
// ends instead of acknowledging (the guest exited at once) is no error.
func (c *Client) Halt(ctx context.Context) error {
	_, err := c.roundTrip(ctx, &Message{Kind: KindHalt})
	if err != nil && errors.Is(err, ErrClosed) && ctx.Err() == nil {
		return nil
	}
	return err
}

// Close closes the stream and waits for the client's goroutines. Calls in
// progress fail with ErrClosed.
func (c *Client) Close() error {
	c.s.close()
	c.wg.Wait()
	return nil
}
