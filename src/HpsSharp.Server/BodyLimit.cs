using Microsoft.AspNetCore.Http;

namespace HpsSharp.Server;

/// <summary>
/// The request body limit (<see cref="RewardServiceOptions.MaxRequestBodyBytes"/>), enforced on the body stream every
/// reader uses rather than by Kestrel's own <c>MaxRequestBodySize</c>. The difference is what happens after the 413:
/// Kestrel's limit faults the body and closes the connection under a client that may still be sending, which then
/// sees a broken pipe or a reset instead of the answer; with the limit here, Kestrel drains what is left of the body
/// after the 413 is written (for at most its 5 s drain timeout, then it closes), so the client finishes sending and
/// reads the 413 problem that names the limit.
/// </summary>
internal static class BodyLimit
{
    /// <summary>The middleware: wraps the body of every request that has one.</summary>
    public static Func<HttpContext, RequestDelegate, Task> Middleware(RewardServiceOptions options) => (ctx, next) =>
    {
        if (ctx.Request.ContentLength is not 0)
        {
            ctx.Request.Body = new LimitedStream(ctx.Request.Body, options.MaxRequestBodyBytes, () => Protocols.ProtocolSupport.TooLarge(options));
        }

        return next(ctx);
    };

    /// <summary>A read-only view of a stream that throws once more than <c>limit</c> bytes would have been read.</summary>
    internal sealed class LimitedStream(Stream inner, long limit, Func<Exception> tooLarge) : Stream
    {
        private long _read;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => _read;
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer) => Count(inner.Read(buffer[..Allowed(buffer.Length)]));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Count(await inner.ReadAsync(buffer[..Allowed(buffer.Length)], cancellationToken).ConfigureAwait(false));

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        // One byte past the limit is enough to know the body is too large: never read further into the caller's buffer.
        private int Allowed(int wanted) => wanted == 0 ? 0 : (int)Math.Min(wanted, limit - _read + 1);

        private int Count(int n)
        {
            _read += n;
            return _read > limit ? throw tooLarge() : n;
        }
    }
}
