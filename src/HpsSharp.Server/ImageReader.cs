using System.Runtime.InteropServices;
using System.Text.Json;
using HpsSharp.Core.Data;
using HpsSharp.Core.Scoring;
using SkiaSharp;

namespace HpsSharp.Server;

/// <summary>
/// Turns the image part of a request item into an <see cref="ImageInput"/>, refusing what the service must not
/// accept: URLs (never fetched), local paths without a configured root or outside it, bad base64, data that is not a
/// decodable image, and images whose header declares more pixels than the limit (checked before any decoding).
/// </summary>
public sealed class ImageReader
{
    private readonly long _maxPixels;
    private readonly string? _root;
    private readonly RewardServiceOptions _options;

    public ImageReader(RewardServiceOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _maxPixels = options.MaxDecodedPixels;
        _root = options.ImageRoot is null ? null : Path.TrimEndingDirectorySeparator(Path.GetFullPath(options.ImageRoot));
    }

    /// <summary>
    /// Reads an image given as a base64 string (or data URI), or an object with one of <c>image</c> (base64),
    /// <c>rgb</c> + <c>width</c> + <c>height</c> (raw RGB bytes, base64), or <c>path</c> (under the image root).
    /// </summary>
    public ImageInput Read(JsonElement element, string item)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                return FromBase64(element, item);
            case JsonValueKind.Object:
                break;
            default:
                throw new ItemRejectedException(item, $"an image must be a base64 string or an object, not {Describe(element.ValueKind)}");
        }

        if (element.TryGetProperty("url", out _))
        {
            throw new ItemRejectedException(item, "URLs are never fetched; send the image bytes as base64 in \"image\"");
        }

        int given = (element.TryGetProperty("image", out var image) ? 1 : 0) + (element.TryGetProperty("rgb", out var rgb) ? 1 : 0)
            + (element.TryGetProperty("path", out var path) ? 1 : 0);
        if (given != 1)
        {
            throw new ItemRejectedException(item, given == 0
                ? "no image: give one of \"image\" (base64), \"rgb\" with \"width\" and \"height\", or \"path\""
                : "give only one of \"image\", \"rgb\" or \"path\"");
        }

        if (image.ValueKind != JsonValueKind.Undefined)
        {
            return image.ValueKind == JsonValueKind.String
                ? FromBase64(image, item)
                : throw new ItemRejectedException(item, $"\"image\" must be a base64 string, not {Describe(image.ValueKind)}");
        }

        if (rgb.ValueKind != JsonValueKind.Undefined)
        {
            return FromRgb(element, rgb, item);
        }

        return path.ValueKind == JsonValueKind.String
            ? FromPath(path.GetString()!, item)
            : throw new ItemRejectedException(item, $"\"path\" must be a string, not {Describe(path.ValueKind)}");
    }

    /// <summary>Checks encoded image bytes (header only) and wraps them.</summary>
    public ImageInput FromEncoded(byte[] bytes, string item)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        if (bytes.Length == 0)
        {
            throw new ItemRejectedException(item, "the image is empty");
        }

        // Only the header is read; the bytes are pinned for Skia rather than copied.
        var pin = GCHandle.Alloc(bytes, GCHandleType.Pinned);
        try
        {
            using var data = SKData.Create(pin.AddrOfPinnedObject(), bytes.Length);
            using var codec = SKCodec.Create(data);
            if (codec is null)
            {
                throw new ItemRejectedException(item, "not a decodable image (PNG, JPEG, WebP, BMP or GIF expected)");
            }

            CheckPixels(codec.Info.Width, codec.Info.Height, item);
        }
        finally
        {
            pin.Free();
        }

        return ImageInput.FromBytes(bytes, item);
    }

    /// <summary>Throws <see cref="RequestRejectedException"/> (400, limit <c>max_decoded_pixels</c>) for too large an image.</summary>
    public void CheckPixels(long width, long height, string item)
    {
        if (width * height > _maxPixels)
        {
            throw new RequestRejectedException(400, "image too large",
                $"{item} is {width}x{height} = {width * height} pixels; the limit max_decoded_pixels is {_maxPixels}",
                "max_decoded_pixels", _maxPixels);
        }
    }

    private ImageInput FromBase64(JsonElement value, string item)
    {
        // The common case decodes straight from the UTF-8 JSON bytes, without a UTF-16 copy of a large string.
        if (value.TryGetBytesFromBase64(out var bytes))
        {
            return FromEncoded(bytes, item);
        }

        string text = value.GetString()!;
        if (LooksLikeUrl(text))
        {
            throw new ItemRejectedException(item, "URLs are never fetched; send the image bytes as base64");
        }

        return FromEncoded(DecodeBase64(text, item, "image"), item);
    }

    private ImageInput FromRgb(JsonElement element, JsonElement rgb, string item)
    {
        if (rgb.ValueKind != JsonValueKind.String)
        {
            throw new ItemRejectedException(item, $"\"rgb\" must be a base64 string, not {Describe(rgb.ValueKind)}");
        }

        int width = ReadDimension(element, "width", item);
        int height = ReadDimension(element, "height", item);
        CheckPixels(width, height, item);
        var bytes = rgb.TryGetBytesFromBase64(out var direct) ? direct : DecodeBase64(rgb.GetString()!, item, "rgb");
        if (bytes.Length != (long)width * height * 3)
        {
            throw new ItemRejectedException(item, $"\"rgb\" holds {bytes.Length} bytes but width x height x 3 = {(long)width * height * 3}");
        }

        return ImageInput.FromRgb(bytes, width, height, item);
    }

    private ImageInput FromPath(string relative, string item)
    {
        if (_root is null)
        {
            throw new ItemRejectedException(item, "local paths are disabled; the service reads files only when started with an image root");
        }

        if (LooksLikeUrl(relative))
        {
            throw new ItemRejectedException(item, "URLs are never fetched");
        }

        string full = ResolveUnderRoot(_root, relative, item);
        var info = new FileInfo(full);
        if (info.Length > _options.MaxRequestBodyBytes)
        {
            throw new ItemRejectedException(item, $"'{relative}' is {info.Length} bytes, larger than the limit max_request_body_bytes = {_options.MaxRequestBodyBytes}");
        }

        // The file is read here, with a timeout (a stalled network file system must not hold the request), and the
        // bytes are checked like an uploaded image.
        // On its own thread, not the pool's: the request thread waits for it, and pool threads waiting on pool work
        // starve a small machine under concurrent requests.
        var read = Task.Factory.StartNew(() => File.ReadAllBytes(full), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        if (!read.Wait(TimeSpan.FromMilliseconds(_options.FileReadTimeoutMs)))
        {
            read.ContinueWith(t => _ = t.Exception, TaskScheduler.Default);
            throw new ItemRejectedException(item, $"reading '{relative}' took longer than {_options.FileReadTimeoutMs} ms");
        }

        byte[] bytes;
        try
        {
            bytes = read.GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ItemRejectedException(item, $"'{relative}' could not be read: {ex.Message}");
        }

        _ = FromEncoded(bytes, item); // header check: decodable, within the pixel limit
        return ImageInput.FromBytes(bytes, relative);
    }

    /// <summary>
    /// Resolves a request's <c>path</c> under <paramref name="root"/> by Core's one containment policy
    /// (<see cref="ImageRoot.Resolve"/>: links resolved, ".." escapes refused, absolute paths only under the root) and
    /// requires an existing regular file with content. A refusal becomes a per-item error that names the path as
    /// the client wrote it and never the server's own folders.
    /// </summary>
    public static string ResolveUnderRoot(string root, string relative, string item)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(relative);
        try
        {
            return ImageRoot.Resolve(root, relative, ImageRootRequirement.RegularFile);
        }
        catch (ImagePathException ex)
        {
            throw new ItemRejectedException(item, ex.Problem switch
            {
                ImagePathProblem.Malformed => $"path '{relative}' must be a non-empty path under the image root ({ex.Reason})",
                ImagePathProblem.LeavesRoot => $"path '{relative}' leaves the image root",
                ImagePathProblem.AbsoluteOutside => $"path '{relative}' is absolute and not under the image root; give a path relative to the image root",
                ImagePathProblem.LinkOutside => $"path '{relative}' leads out of the image root through a link",
                ImagePathProblem.Missing => $"no file '{relative}' under the image root",
                _ => $"'{relative}' is not a regular file with content (FIFOs, sockets, devices, folders and empty files are refused)",
            });
        }
    }

    private static int ReadDimension(JsonElement element, string name, string item)
    {
        if (!element.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int n) || n <= 0)
        {
            throw new ItemRejectedException(item, $"\"rgb\" needs \"{name}\" as a positive integer");
        }

        return n;
    }

    private static byte[] DecodeBase64(string text, string item, string field)
    {
        var span = text.AsSpan();
        if (span.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
        {
            int comma = span.IndexOf(',');
            if (comma < 0 || !span[..comma].EndsWith(";base64", StringComparison.OrdinalIgnoreCase))
            {
                throw new ItemRejectedException(item, $"\"{field}\" is a data URI without ';base64,'");
            }

            span = span[(comma + 1)..];
        }

        var buffer = new byte[(span.Length / 4 * 3) + 3];
        if (!Convert.TryFromBase64Chars(span, buffer, out int written))
        {
            throw new ItemRejectedException(item, $"\"{field}\" is not valid base64");
        }

        return written == buffer.Length ? buffer : buffer.AsSpan(0, written).ToArray();
    }

    private static bool LooksLikeUrl(string s) =>
        s.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || s.StartsWith("https://", StringComparison.OrdinalIgnoreCase)
        || s.StartsWith("file:", StringComparison.OrdinalIgnoreCase) || s.StartsWith("ftp://", StringComparison.OrdinalIgnoreCase);

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Number => "a number",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => kind.ToString(),
    };
}
