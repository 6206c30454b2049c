namespace HpsSharp.Core.Data;

/// <summary>What must be at a path that <see cref="ImageRoot.Resolve"/> accepts.</summary>
public enum ImageRootRequirement
{
    /// <summary>Anything or nothing: the caller reports a missing file in its own words (a dataset's missing image).</summary>
    Any,

    /// <summary>
    /// An existing regular file with content. A FIFO would block the reader until a writer appears and a device or a
    /// /proc file has no end; stat reports size 0 for all of them, so a file with content is a regular file.
    /// </summary>
    RegularFile,
}

/// <summary>Why <see cref="ImageRoot.Resolve"/> refused a path.</summary>
public enum ImagePathProblem
{
    /// <summary>Empty, or contains a NUL character.</summary>
    Malformed,

    /// <summary>Walking it ("..") leaves the root, or it names the root itself.</summary>
    LeavesRoot,

    /// <summary>An absolute path that does not lie under the root.</summary>
    AbsoluteOutside,

    /// <summary>A symbolic link on the way points outside the root (or cannot be resolved).</summary>
    LinkOutside,

    /// <summary><see cref="ImageRootRequirement.RegularFile"/>: nothing there.</summary>
    Missing,

    /// <summary><see cref="ImageRootRequirement.RegularFile"/>: a folder, FIFO, socket, device or empty file.</summary>
    NotRegularFile,
}

/// <summary>
/// The one path-containment rule for files named by untrusted or user data under a root folder — dataset images
/// (evaluation, training, annotation), the service's <c>path</c> items, a CoHP run folder's files. The policy:
/// <list type="bullet">
/// <item>'/' and '\' both separate folders (datasets written on Windows); empty paths and NUL characters are refused;</item>
/// <item>a relative path is walked from the root one component at a time, as the file system resolves it: a ".."
/// that steps out of the root is refused, even if later components would come back;</item>
/// <item>an absolute path is accepted only when it lies under the root (as given, or with its links resolved), and is
/// then walked like the equivalent relative path;</item>
/// <item>every symbolic link met on the way is resolved to its final target, which must lie under the root's real
/// location;</item>
/// <item>with <see cref="ImageRootRequirement.RegularFile"/>, the result must be an existing regular file with content.</item>
/// </list>
/// The result is the real path (links resolved), so what was checked is what the caller opens.
/// </summary>
public static class ImageRoot
{
    /// <summary>
    /// The real path of <paramref name="path"/> under <paramref name="root"/> by the policy above.
    /// </summary>
    /// <exception cref="ImagePathException">The path breaks the policy; <see cref="ImagePathException.Problem"/> says how.</exception>
    public static string Resolve(string root, string path, ImageRootRequirement requirement = ImageRootRequirement.Any)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        ArgumentNullException.ThrowIfNull(path);
        if (path.Length == 0)
        {
            throw new ImagePathException(root, path, ImagePathProblem.Malformed, "the image path is empty");
        }

        if (path.Contains('\0', StringComparison.Ordinal))
        {
            throw new ImagePathException(root, path, ImagePathProblem.Malformed, "the image path contains a NUL character");
        }

        string fullRoot = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        string realRoot;
        try
        {
            realRoot = Path.TrimEndingDirectorySeparator(RealPath(fullRoot));
        }
        catch (IOException ex)
        {
            throw new ImagePathException(root, path, ImagePathProblem.LinkOutside, $"the image root's links cannot be resolved ({ex.Message})");
        }

        string normalised = path.Replace('\\', '/');
        string relative = normalised;
        if (Path.IsPathRooted(normalised))
        {
            string absolute = Path.GetFullPath(normalised);
            relative = IsUnderOrAt(fullRoot, absolute) ? Path.GetRelativePath(fullRoot, absolute)
                : IsUnderOrAt(realRoot, absolute) ? Path.GetRelativePath(realRoot, absolute)
                : throw new ImagePathException(root, path, ImagePathProblem.AbsoluteOutside,
                    $"'{absolute}' is outside the image root '{fullRoot}' (an absolute path is accepted only under the root; give a path relative to it)");
        }

        string current = realRoot;
        foreach (var part in relative.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == ".")
            {
                continue;
            }

            current = part == ".." ? Path.GetDirectoryName(current) ?? current : Path.Combine(current, part);
            if (!IsUnderOrAt(realRoot, current))
            {
                throw new ImagePathException(root, path, ImagePathProblem.LeavesRoot,
                    $"it leaves the image root: '{current}' is outside the image root '{realRoot}'");
            }

            var info = new FileInfo(current);
            if (info.LinkTarget is null)
            {
                continue;
            }

            string target;
            try
            {
                var final = info.ResolveLinkTarget(returnFinalTarget: true);
                target = final is null ? current : RealPath(Path.GetFullPath(final.FullName));
            }
            catch (IOException ex)
            {
                throw new ImagePathException(root, path, ImagePathProblem.LinkOutside, $"the link '{current}' cannot be resolved ({ex.Message})");
            }

            if (!IsUnderOrAt(realRoot, target))
            {
                throw new ImagePathException(root, path, ImagePathProblem.LinkOutside,
                    $"'{current}' is a link to '{target}', outside the image root '{realRoot}'");
            }

            current = target;
        }

        if (current == realRoot)
        {
            throw new ImagePathException(root, path, ImagePathProblem.LeavesRoot, "it names the image root itself, not a file under it");
        }

        if (requirement == ImageRootRequirement.RegularFile)
        {
            var file = new FileInfo(current);
            if (Directory.Exists(current) || (file.Exists && file.Length == 0))
            {
                throw new ImagePathException(root, path, ImagePathProblem.NotRegularFile,
                    "it is not a regular file with content (folders, FIFOs, sockets, devices and empty files are refused)");
            }

            if (!file.Exists)
            {
                throw new ImagePathException(root, path, ImagePathProblem.Missing, "no file there under the image root");
            }
        }

        return current;
    }

    /// <summary>True when <paramref name="path"/> is <paramref name="root"/> or inside it (whole components: /a/bc is not under /a/b).</summary>
    private static bool IsUnderOrAt(string root, string path) =>
        path == root
        || (path.StartsWith(root, StringComparison.Ordinal) && path.Length > root.Length
            && (path[root.Length] == Path.DirectorySeparatorChar || root.EndsWith(Path.DirectorySeparatorChar)));

    /// <summary>The path with every existing symbolic link on the way replaced by its final target.</summary>
    private static string RealPath(string full)
    {
        string? dir = Path.GetDirectoryName(full);
        string current = dir is null ? full : Path.Combine(RealPath(dir), Path.GetFileName(full));
        var info = new FileInfo(current);
        if (info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is { } target)
        {
            return RealPath(Path.GetFullPath(target.FullName));
        }

        return current;
    }
}

/// <summary>A path from a dataset or a request that the <see cref="ImageRoot"/> policy refuses.</summary>
public sealed class ImagePathException : HpsException
{
    public ImagePathException(string root, string imagePath, ImagePathProblem problem, string reason)
        : base($"image path '{imagePath}' (root '{root}'): {reason}")
    {
        Root = root;
        ImagePath = imagePath;
        Problem = problem;
        Reason = reason;
    }

    /// <summary>The image root folder.</summary>
    public string Root { get; }

    /// <summary>The path as written in the dataset.</summary>
    public string ImagePath { get; }

    /// <summary>Which rule of the policy it breaks.</summary>
    public ImagePathProblem Problem { get; }

    /// <summary>What is wrong, with the paths involved.</summary>
    public string Reason { get; }
}
