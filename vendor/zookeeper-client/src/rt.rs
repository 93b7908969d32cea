//! libndsr patch: sockets and timers on the tokio runtime the client runs on, instead of
//! async-io's process-wide reactor. That reactor has one epoll instance and one driver thread
//! per process; after fork() the child has no driver thread and shares the epoll instance with
//! its parent, so a child could neither connect nor wait without stealing its parent's events.
//! A tokio runtime made in the child has its own.

use std::future::Future;
use std::io::IoSlice;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

/// A tokio TCP stream with `futures`' I/O traits. (tokio-util's `Compat` would do, but it has no
/// vectored write: every request would go out in a syscall of its own instead of one `writev`
/// for all that are queued.)
#[derive(Debug)]
pub struct TcpStream(tokio::net::TcpStream);

/// Connects to `host:port` with Nagle off (requests are small and latency-bound).
pub async fn connect(host: &str, port: u16) -> std::io::Result<TcpStream> {
    let stream = tokio::net::TcpStream::connect((host, port)).await?;
    stream.set_nodelay(true)?;
    Ok(TcpStream(stream))
}

impl futures::io::AsyncRead for TcpStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<std::io::Result<usize>> {
        let mut buf = tokio::io::ReadBuf::new(buf);
        ready!(tokio::io::AsyncRead::poll_read(Pin::new(&mut self.get_mut().0), cx, &mut buf))?;
        Poll::Ready(Ok(buf.filled().len()))
    }
}

impl futures::io::AsyncWrite for TcpStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write(Pin::new(&mut self.get_mut().0), cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write_vectored(Pin::new(&mut self.get_mut().0), cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        tokio::io::AsyncWrite::poll_flush(Pin::new(&mut self.get_mut().0), cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        tokio::io::AsyncWrite::poll_shutdown(Pin::new(&mut self.get_mut().0), cx)
    }
}

/// async-io's `Timer` API on tokio time: fires at a deadline (and then every period, for an
/// interval), yielding the time it fired. The tokio timer is made at the first poll, so a
/// `Timer` may be created outside the runtime.
pub struct Timer {
    when: Option<Instant>,
    period: Option<Duration>,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Timer {
    pub fn never() -> Timer {
        Timer { when: None, period: None, sleep: None }
    }

    pub fn at(when: Instant) -> Timer {
        Timer { when: Some(when), period: None, sleep: None }
    }

    pub fn after(duration: Duration) -> Timer {
        Timer::at(Instant::now() + duration)
    }

    pub fn interval(period: Duration) -> Timer {
        Timer { when: Some(Instant::now() + period), period: Some(period), sleep: None }
    }
}

impl Future for Timer {
    type Output = Instant;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Instant> {
        let this = self.get_mut();
        let Some(when) = this.when else {
            return Poll::Pending;
        };
        let sleep = this.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(when.into())));
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let now = Instant::now();
        match this.period {
            Some(period) => {
                // Like async-io: the next tick is a period after this one, not after now.
                let next = (when + period).max(now);
                this.when = Some(next);
                sleep.as_mut().reset(next.into());
            },
            None => {
                this.when = None;
                this.sleep = None;
            },
        }
        Poll::Ready(now)
    }
}
