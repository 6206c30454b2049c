using System.Collections;
using System.IO.Compression;
using Razorvine.Pickle;

namespace HpsSharp.Core.Checkpoints;

/// <summary>One tensor of a pickled checkpoint: where its elements live in which storage, and how they are laid out.</summary>
/// <param name="Name">The state-dict key.</param>
/// <param name="Dtype">Element type of the storage.</param>
/// <param name="Shape">Tensor shape.</param>
/// <param name="Strides">Strides in elements.</param>
/// <param name="StorageOffset">Offset of element 0 in the storage, in elements.</param>
/// <param name="StorageKey">The storage's record name under <c>data/</c> in the archive.</param>
/// <param name="StorageElements">Elements in the whole storage (several tensors may share one).</param>
public sealed record TorchTensorRecord(string Name, TorchDtype Dtype, long[] Shape, long[] Strides, long StorageOffset, string StorageKey, long StorageElements)
{
    /// <summary>Number of elements of the tensor.</summary>
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// A restricted reader for <c>torch.save</c> checkpoints in the zip format (PyTorch ≥ 1.6: <c>&lt;name&gt;/data.pkl</c>
/// plus one <c>&lt;name&gt;/data/&lt;key&gt;</c> record per storage). The pickle is first scanned (<see cref="PickleScanner"/>)
/// and refused unless every global it names is on the allow-list — <c>collections.OrderedDict</c>,
/// <c>torch._utils._rebuild_tensor_v2</c>, <c>torch._utils._rebuild_parameter</c> and the <c>torch.*Storage</c>
/// classes — then unpickled with Razorvine.Pickle, whose constructors for those names build only
/// <see cref="TorchTensorRecord"/>s. Storage location tags (<c>cuda:0</c>) are ignored: everything is read to the CPU.
/// </summary>
public sealed class TorchCheckpoint : IDisposable
{
    /// <summary>The largest data.pkl read (the pickle holds names and shapes only; 64 MB is far above any real one).</summary>
    public const long MaxPickleBytes = 64L << 20;

    private readonly ZipArchive _zip;
    private readonly string _prefix;

    private TorchCheckpoint(string path, ZipArchive zip, string prefix, object? root)
    {
        Path = path;
        _zip = zip;
        _prefix = prefix;
        Root = root;
    }

    /// <summary>The checkpoint file.</summary>
    public string Path { get; }

    /// <summary>
    /// The unpickled top-level object: dictionaries are <see cref="IDictionary"/> (unordered),
    /// tuples <c>object[]</c>, tensors <see cref="TorchTensorRecord"/>.
    /// </summary>
    public object? Root { get; }

    /// <summary>
    /// The scan policy of <c>torch.load(weights_only=True)</c>: object construction only through the allowed globals,
    /// any number of opcodes, trailing bytes ignored (as Python's unpickler does).
    /// </summary>
    private static readonly PicklePolicy Policy = new()
    {
        Accepts = "tensor-only checkpoints name only collections.OrderedDict, torch._utils._rebuild_tensor_v2/_rebuild_parameter and torch.*Storage",
        AllowGlobal = IsAllowed,
        AllowObjectConstruction = true,
        AllowSetsAndBuffers = true,
    };

    /// <summary>True for a Python global the reader lets a pickle name.</summary>
    public static bool IsAllowed(string module, string name) => (module, name) switch
    {
        ("collections", "OrderedDict") => true,
        ("torch._utils", "_rebuild_tensor_v2") => true,
        ("torch._utils", "_rebuild_parameter") => true,
        ("torch", _) => TorchDtypes.StorageClasses.ContainsKey(name),
        _ => false,
    };

    /// <summary>Opens and unpickles <paramref name="path"/>; storages are read later, on demand.</summary>
    /// <exception cref="TorchCheckpointException">Missing, not a zip checkpoint (the legacy pre-1.6 format included), damaged, or refused.</exception>
    public static TorchCheckpoint Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
        {
            throw new TorchCheckpointException(path, "checkpoint file not found");
        }

        ZipArchive zip;
        try
        {
            zip = ZipFile.OpenRead(path);
        }
        catch (InvalidDataException ex)
        {
            var legacy = LooksLikeLegacy(path);
            throw new TorchCheckpointException(path, legacy
                ? "a legacy (pre-1.6, non-zip) torch.save file; re-save it with a current PyTorch (torch.save(torch.load(f), f2)) or use safetensors"
                : "not a torch.save zip archive", ex);
        }

        try
        {
            var pklEntry = zip.Entries.FirstOrDefault(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal) && e.FullName.IndexOf('/', StringComparison.Ordinal) == e.FullName.Length - "/data.pkl".Length)
                ?? throw new TorchCheckpointException(path, "the zip holds no <name>/data.pkl: not a torch.save checkpoint");
            if (pklEntry.Length > MaxPickleBytes)
            {
                throw new TorchCheckpointException(path, $"data.pkl is {pklEntry.Length} bytes, over the {MaxPickleBytes}-byte limit");
            }

            var prefix = pklEntry.FullName[..^"data.pkl".Length];
            byte[] pickle;
            using (var s = pklEntry.Open())
            using (var ms = new MemoryStream((int)pklEntry.Length))
            {
                s.CopyTo(ms);
                pickle = ms.ToArray();
            }

            try
            {
                PickleScanner.Check(pickle, Policy);
            }
            catch (PickleScanException ex)
            {
                throw new TorchCheckpointException(path, $"data.pkl: {ex.Message}", ex);
            }

            object? root;
            try
            {
                using var unpickler = new RestrictedUnpickler(path);
                root = unpickler.loads(pickle);
            }
            catch (PickleException ex)
            {
                throw new TorchCheckpointException(path, $"damaged pickle: {ex.Message}", ex);
            }
            catch (InvalidCastException ex)
            {
                throw new TorchCheckpointException(path, $"unexpected object layout in data.pkl: {ex.Message}", ex);
            }

            return new TorchCheckpoint(path, zip, prefix, root);
        }
        catch
        {
            zip.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The tensors of the state dict: the root itself when it maps names to tensors, else the dictionary under
    /// <paramref name="key"/> (e.g. <c>"state_dict"</c>, as HPSv2's checkpoints hold); non-tensor entries are skipped.
    /// </summary>
    public IReadOnlyDictionary<string, TorchTensorRecord> Tensors(string? key = null)
    {
        var dict = Root as IDictionary ?? throw new TorchCheckpointException(Path, $"the pickled object is a {Describe(Root)}, not a dictionary");
        if (key is not null)
        {
            dict = dict.Contains(key)
                ? dict[key] as IDictionary ?? throw new TorchCheckpointException(Path, $"'{key}' is a {Describe(dict[key])}, not a dictionary")
                : throw new TorchCheckpointException(Path, $"the checkpoint has no '{key}' entry (top-level keys: {string.Join(", ", dict.Keys.Cast<object>().Take(10))})");
        }

        var result = new Dictionary<string, TorchTensorRecord>(StringComparer.Ordinal);
        foreach (var k in dict.Keys)
        {
            if (k is string name && dict[k] is TorchTensorRecord rec)
            {
                result[name] = rec with { Name = name };
            }
        }

        return result;
    }

    /// <summary>Reads a tensor's whole storage (little-endian bytes, as torch writes them).</summary>
    public byte[] ReadStorage(TorchTensorRecord tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        var entry = _zip.GetEntry(_prefix + "data/" + tensor.StorageKey)
            ?? throw new TorchCheckpointException(Path, $"storage record data/{tensor.StorageKey} of '{tensor.Name}' is missing");
        long bytes = tensor.StorageElements * TorchDtypes.Size(tensor.Dtype);
        if (entry.Length != bytes)
        {
            throw new TorchCheckpointException(Path, $"storage data/{tensor.StorageKey} of '{tensor.Name}' is {entry.Length} bytes, but {tensor.StorageElements} {tensor.Dtype} elements need {bytes}");
        }

        var buffer = new byte[bytes];
        using var s = entry.Open();
        s.ReadExactly(buffer);
        return buffer;
    }

    /// <inheritdoc/>
    public void Dispose() => _zip.Dispose();

    private static string Describe(object? o) => o?.GetType().Name ?? "None";

    private static bool LooksLikeLegacy(string path)
    {
        // Legacy files start with a pickled magic number: PROTO 2 then LONG1 of 0x1950a86a20f9469cfc6c.
        using var f = File.OpenRead(path);
        Span<byte> head = stackalloc byte[3];
        return f.Read(head) == 3 && head[0] == 0x80 && head[2] == 0x8a;
    }

    /// <summary>Razorvine's unpickler with constructors only for the allow-list and torch's persistent storage ids.</summary>
    private sealed class RestrictedUnpickler : Unpickler
    {
        private readonly string _path;

        public RestrictedUnpickler(string path)
        {
            _path = path;
            registerConstructor("collections", "OrderedDict", new OrderedDictConstructor());
            registerConstructor("torch._utils", "_rebuild_tensor_v2", new RebuildTensor(path, parameter: false));
            registerConstructor("torch._utils", "_rebuild_parameter", new RebuildTensor(path, parameter: true));
            foreach (var (name, dtype) in TorchDtypes.StorageClasses)
            {
                registerConstructor("torch", name, new StorageType(dtype));
            }
        }

        protected override object persistentLoad(object pid)
        {
            // ('storage', storage_type, key, location, numel) — torch/serialization.py persistent_id.
            if (pid is object[] { Length: 5 } t && t[0] is string kind && kind == "storage" && t[1] is StorageType type && t[2] is string key)
            {
                long numel = Convert.ToInt64(t[4], System.Globalization.CultureInfo.InvariantCulture);
                if (numel < 0 || key.Contains('/', StringComparison.Ordinal) || key.Contains('\\', StringComparison.Ordinal))
                {
                    throw new TorchCheckpointException(_path, $"invalid storage reference '{key}' ({numel} elements)");
                }

                return new StorageRef(type.Dtype, key, numel);
            }

            throw new TorchCheckpointException(_path, "refused: a persistent id that is not a torch storage reference");
        }
    }

    private sealed record StorageRef(TorchDtype Dtype, string Key, long Elements);

    private sealed class StorageType(TorchDtype dtype) : IObjectConstructor
    {
        public TorchDtype Dtype { get; } = dtype;

        public object construct(object[] args) => throw new PickleException("a torch storage class may only appear in a storage reference");
    }

    private sealed class OrderedDictConstructor : IObjectConstructor
    {
        public object construct(object[] args) => args.Length == 0
            ? new PickledOrderedDict()
            : throw new PickleException("OrderedDict(...) with arguments is not a state dict");
    }

    /// <summary><c>_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])</c> and <c>_rebuild_parameter(tensor, requires_grad, hooks)</c>.</summary>
    private sealed class RebuildTensor(string path, bool parameter) : IObjectConstructor
    {
        public object construct(object[] args)
        {
            if (parameter)
            {
                return args.Length >= 1 && args[0] is TorchTensorRecord inner ? inner : throw new PickleException("_rebuild_parameter without a tensor");
            }

            if (args.Length < 4 || args[0] is not StorageRef storage || args[2] is not object[] size || args[3] is not object[] stride || size.Length != stride.Length)
            {
                throw new PickleException("_rebuild_tensor_v2 with unexpected arguments");
            }

            var shape = size.Select(ToLong).ToArray();
            var strides = stride.Select(ToLong).ToArray();
            long offset = ToLong(args[1]);
            if (shape.Any(d => d < 0) || strides.Any(d => d < 0) || offset < 0)
            {
                throw new TorchCheckpointException(path, "a tensor with a negative size, stride or offset");
            }

            // The last element addressed must lie inside the storage, or reading it would run past the record.
            if (shape.All(d => d > 0))
            {
                long last = offset + shape.Zip(strides, (d, s) => (d - 1) * s).Sum();
                if (last >= storage.Elements)
                {
                    throw new TorchCheckpointException(path, $"a tensor of shape [{string.Join(", ", shape)}] reaches element {last} of storage data/{storage.Key}, which has {storage.Elements}");
                }
            }

            return new TorchTensorRecord(string.Empty, storage.Dtype, shape, strides, offset, storage.Key, storage.Elements);
        }

        private static long ToLong(object o) => Convert.ToInt64(o, System.Globalization.CultureInfo.InvariantCulture);
    }
}

/// <summary>
/// A pickled <c>collections.OrderedDict</c>, as the <see cref="Hashtable"/> Razorvine fills. The order is not kept
/// (Razorvine applies each SETITEMS batch last-first); state dicts are looked up by name, so nothing needs it. Its
/// <c>_metadata</c> state (torch's module versions) is dropped.
/// </summary>
public sealed class PickledOrderedDict : Hashtable
{
    /// <summary>Called by the unpickler's BUILD opcode with the object's <c>__dict__</c>; a state dict's metadata is not needed.</summary>
#pragma warning disable CA1707, IDE1006 // the name is Python's protocol, looked up by reflection
    public void __setstate__(Hashtable state)
#pragma warning restore CA1707, IDE1006
    {
        ArgumentNullException.ThrowIfNull(state);
    }
}
