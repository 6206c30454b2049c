namespace HpsSharp.Core.Data;

/// <summary>Resolves image paths written in a dataset against an image root folder, refusing any that leave it.</summary>
public static class ImageRoot
{
    /// <summary>
    /// The full path of <paramref name="relativePath"/> under <paramref name="root"/>. Both '/' and '\' separate
    /// folders (datasets written on Windows). An absolute path is accepted only when it lies under the root. The
    /// check is on the normalised path ("..", "." removed) and, where the file or a folder on the way is a symbolic
    /// link, on the link's final target too.
    /// </summary>
    /// <exception cref="ImagePathException">The path is empty, or it resolves outside the root.</exception>
    public static string Resolve(string root, string relativePath)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        ArgumentNullException.ThrowIfNull(relativePath);
        if (relativePath.Length == 0)
        {
            throw new ImagePathException(root, relativePath, "the image path is empty");
        }

        if (relativePath.Contains('\0', StringComparison.Ordinal))
        {
            throw new ImagePathException(root, relativePath, "the image path contains a NUL character");
        }

        string fullRoot = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        string normalised = relativePath.Replace('\\', '/');
        string full = Path.GetFullPath(Path.IsPathRooted(normalised) ? normalised : Path.Combine(fullRoot, normalised));
        if (!IsUnder(fullRoot, full))
        {
            throw new ImagePathException(root, relativePath, $"it resolves to '{full}', outside the image root '{fullRoot}'");
        }

        // A symbolic link inside the root may point outside it: check the real location of every existing part.
        string real = RealPath(full);
        string realRoot = RealPath(fullRoot);
        if (!IsUnder(realRoot, real))
        {
            throw new ImagePathException(root, relativePath, $"it is a link to '{real}', outside the image root '{realRoot}'");
        }

        return full;
    }

    private static bool IsUnder(string root, string full) =>
        full.Length > root.Length
        && full.StartsWith(root, StringComparison.Ordinal)
        && (full[root.Length] == Path.DirectorySeparatorChar || root.EndsWith(Path.DirectorySeparatorChar));

    /// <summary>The path with every existing symbolic link on the way replaced by its final target.</summary>
    private static string RealPath(string full)
    {
        string? dir = Path.GetDirectoryName(full);
        string current = dir is null ? full : Path.Combine(RealPath(dir), Path.GetFileName(full));
        FileSystemInfo info = Directory.Exists(current) ? new DirectoryInfo(current) : new FileInfo(current);
        if (info.Exists && info.LinkTarget is not null)
        {
            var target = info.ResolveLinkTarget(returnFinalTarget: true);
            if (target is not null)
            {
                return RealPath(Path.GetFullPath(target.FullName));
            }
        }

        return current;
    }
}

/// <summary>An image path from a dataset that is empty or leaves the image root.</summary>
public sealed class ImagePathException : HpsException
{
    public ImagePathException(string root, string imagePath, string reason)
        : base($"image path '{imagePath}' (root '{root}'): {reason}")
    {
        Root = root;
        ImagePath = imagePath;
        Reason = reason;
    }

    /// <summary>The image root folder.</summary>
    public string Root { get; }

    /// <summary>The path as written in the dataset.</summary>
    public string ImagePath { get; }

    /// <summary>What is wrong.</summary>
    public string Reason { get; }
}
