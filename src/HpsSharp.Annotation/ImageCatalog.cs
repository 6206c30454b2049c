using HpsSharp.Core.Data;

namespace HpsSharp.Annotation;

/// <summary>
/// The images the app may serve: exactly those named by the stored pairs, resolved under the image root (so the
/// root cannot be browsed, and no path leaves it). URLs are <c>/images/</c> + the image's path relative to the root,
/// '/'-separated, each segment percent-encoded.
/// </summary>
public sealed class ImageCatalog
{
    private readonly Dictionary<string, string> _files = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _urls = new(StringComparer.Ordinal);

    public ImageCatalog(string imagesRoot, IEnumerable<AnnotationPair> pairs)
    {
        ArgumentException.ThrowIfNullOrEmpty(imagesRoot);
        ArgumentNullException.ThrowIfNull(pairs);
        Root = Path.GetFullPath(imagesRoot);
        foreach (var p in pairs)
        {
            foreach (var image in new[] { p.Path1, p.Path2 })
            {
                if (_urls.ContainsKey(image))
                {
                    continue;
                }

                string full = ImageRoot.Resolve(imagesRoot, image);
                string relative = Path.GetRelativePath(Root, full).Replace('\\', '/');
                _files[relative] = full;
                _urls[image] = "/images/" + string.Join('/', relative.Split('/').Select(Uri.EscapeDataString));
            }
        }
    }

    /// <summary>The image root.</summary>
    public string Root { get; }

    /// <summary>The URL of an image path as written in a stored pair.</summary>
    /// <exception cref="KeyNotFoundException">No stored pair names this image.</exception>
    public string UrlOf(string imagePath) => _urls[imagePath];

    /// <summary>The file behind a (decoded) path under <c>/images/</c>, or null when no pair names it.</summary>
    public string? FileOf(string relativePath) =>
        _files.TryGetValue(relativePath, out var full) && File.Exists(full) ? full : null;
}
