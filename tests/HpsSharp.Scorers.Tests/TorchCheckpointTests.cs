using System.IO.Compression;
using System.Text;
using HpsSharp.Core.Checkpoints;
using HpsSharp.Core.Safetensors;
using HpsSharp.Modeling.Weights;
using HpsSharp.Testing;
using Xunit;
using static TorchSharp.torch;

namespace HpsSharp.Scorers.Tests;

[Trait("Category", "Unit")]
public sealed class TorchCheckpointTests
{
    [Fact]
    public void HpsV2CheckpointReadsTheFp16OpenClipStateDictUnderStateDict()
    {
        using var ckpt = TorchCheckpoint.Open(TestPaths.Fixture("scorers/hpsv2/HPS_v2.1_compressed.pt"));
        var tensors = ckpt.Tensors("state_dict");
        Assert.Contains("positional_embedding", tensors.Keys);
        Assert.DoesNotContain(tensors.Keys, k => k.StartsWith("module.", StringComparison.Ordinal));
        Assert.All(tensors.Values, t => Assert.Equal(TorchDtype.Float16, t.Dtype));
        Assert.Equal([96L, 32L], tensors["visual.transformer.resblocks.0.attn.in_proj_weight"].Shape);
        Assert.Equal([77L, 16L], tensors["positional_embedding"].Shape);
        Assert.Equal([49408L, 16L], tensors["token_embedding.weight"].Shape);
        Assert.Empty(tensors["logit_scale"].Shape);

        using var _ = NewDisposeScope();
        var loaded = TorchCheckpointTensors.Load(ckpt, "state_dict", ScalarType.Float32);
        Assert.Equal(tensors.Count, loaded.Count);
        // logit_scale is stored as ln 100 (README), rounded to fp16.
        Assert.Equal(Math.Log(100), loaded["logit_scale"].item<float>(), 2);
    }

    [Fact]
    public void AestheticMlpWithCudaStoragesReproducesTheGoldenScores()
    {
        using var ckpt = TorchCheckpoint.Open(TestPaths.Fixture("scorers/aesthetic/sac+logos+ava1-l14-linearMSE.pth"));
        using var scope = NewDisposeScope();
        var w = TorchCheckpointTensors.Load(ckpt);
        Assert.Equivalent(new[] { "layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias", "layers.4.weight", "layers.4.bias", "layers.6.weight", "layers.6.bias", "layers.7.weight", "layers.7.bias" }, w.Keys, strict: true);
        Assert.Equal([1024L, 24L], w["layers.0.weight"].shape);

        // The five affine maps applied to the golden normalised embedding give the golden score: the bytes are right.
        using var golden = SafetensorsFile.Open(TestPaths.Fixture("scorers/aesthetic/expected_batch.safetensors"));
        var x = tensor(golden.ReadFloat32("image_embeds_normalized"), golden["image_embeds_normalized"].Shape);
        foreach (var i in new[] { 0, 2, 4, 6, 7 })
        {
            x = nn.functional.linear(x, w[$"layers.{i}.weight"], w[$"layers.{i}.bias"]);
        }

        var expected = golden.ReadFloat32("scores");
        var actual = x.reshape(-1).data<float>().ToArray();
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4, $"score {i}: {actual[i]} vs {expected[i]}");
        }
    }

    [Fact]
    public void ImageRewardCheckpointWithMetadataAndInt64BufferLoads()
    {
        using var ckpt = TorchCheckpoint.Open(TestPaths.Fixture("scorers/imagereward/ImageReward.pt"));
        var tensors = ckpt.Tensors();
        Assert.Equal(101, tensors.Count);
        Assert.All(tensors.Keys, k => Assert.True(k.StartsWith("blip.", StringComparison.Ordinal) || k.StartsWith("mlp.layers.", StringComparison.Ordinal), k));
        var positionIds = tensors.Single(kv => kv.Value.Dtype == TorchDtype.Int64);
        Assert.EndsWith("position_ids", positionIds.Key, StringComparison.Ordinal);

        using var _ = NewDisposeScope();
        var loaded = TorchCheckpointTensors.Load(ckpt);
        var ids = loaded[positionIds.Key];
        Assert.Equal(ScalarType.Int64, ids.dtype);
        Assert.Equal(Enumerable.Range(0, (int)ids.numel()).Select(i => (long)i), ids.reshape(-1).data<long>().ToArray());
    }

    public static TheoryData<string, byte[]> Malicious => new()
    {
        // protocol 2: GLOBAL 'os system', then REDUCE on a string — the classic remote-code pickle.
        { "os.system", Encoding.Latin1.GetBytes("\u0080\u0002cos\nsystem\nq\u0000X\u000b\u0000\u0000\u0000echo pwned!q\u0001\u0085q\u0002Rq\u0003.") },
        // protocol 4: STACK_GLOBAL with the names pushed as short strings and memoised.
        { "builtins.eval", Encoding.Latin1.GetBytes("\u0080\u0004\u008c\u0008builtins\u0094\u008c\u0004eval\u0094\u0093\u0094\u008c\u00041+1\u0094\u0085\u0094R\u0094.") },
        // an allowed-looking module with a name that is not a storage class.
        { "torch.load", Encoding.Latin1.GetBytes("\u0080\u0002ctorch\nload\nq\u0000.") },
    };

    [Theory]
    [MemberData(nameof(Malicious))]
    public void PicklesNamingOtherGlobalsAreRefusedBeforeAnythingIsBuilt(string global, byte[] pickle)
    {
        using var dir = TestPaths.TempDir();
        var path = WriteCheckpoint(dir.Path, pickle);
        var ex = Assert.Throws<TorchCheckpointException>(() => TorchCheckpoint.Open(path));
        Assert.Contains($"'{global}'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("refused", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void StackGlobalFromComputedValuesAndInstAreRefused()
    {
        using var dir = TestPaths.TempDir();
        // STACK_GLOBAL whose module string is not a literal push (a NONE sits between): cannot be checked, refused.
        var computed = WriteCheckpoint(dir.Path, Encoding.Latin1.GetBytes("\u0080\u0004N\u008c\u0004eval\u0093."));
        Assert.Contains("STACK_GLOBAL", Assert.Throws<TorchCheckpointException>(() => TorchCheckpoint.Open(computed)).Message, StringComparison.Ordinal);
        var inst = WriteCheckpoint(dir.Path, Encoding.Latin1.GetBytes("(ios\nsystem\nS'x'\n."), "b");
        Assert.Contains("INST", Assert.Throws<TorchCheckpointException>(() => TorchCheckpoint.Open(inst)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NonCheckpointsGetOneLineErrorsNamingTheFile()
    {
        using var dir = TestPaths.TempDir();
        var text = Path.Combine(dir.Path, "notes.pt");
        File.WriteAllText(text, "hello");
        var ex = Assert.Throws<TorchCheckpointException>(() => TorchCheckpoint.Open(text));
        Assert.StartsWith(text + ": not a torch.save zip archive", ex.Message, StringComparison.Ordinal);

        var legacy = Path.Combine(dir.Path, "legacy.pt");
        File.WriteAllBytes(legacy, [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]);
        Assert.Contains("legacy", Assert.Throws<TorchCheckpointException>(() => TorchCheckpoint.Open(legacy)).Message, StringComparison.Ordinal);

        Assert.Contains("not found", Assert.Throws<TorchCheckpointException>(() => TorchCheckpoint.Open(Path.Combine(dir.Path, "missing.pt"))).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ATensorReachingPastItsStorageIsRefused()
    {
        using var dir = TestPaths.TempDir();
        // OrderedDict{'w': _rebuild_tensor_v2(storage(FloatStorage, '0', 'cpu', 4), 0, (8,), (1,), False, OrderedDict())}
        var pkl = Encoding.Latin1.GetBytes(
            "\u0080\u0002ccollections\nOrderedDict\nq\u0000)Rq\u0001X\u0001\u0000\u0000\u0000wctorch._utils\n_rebuild_tensor_v2\n(" +
            "(X\u0007\u0000\u0000\u0000storagectorch\nFloatStorage\nX\u0001\u0000\u0000\u00000X\u0003\u0000\u0000\u0000cpuK\u0004tQ" +
            "K\u0000K\u0008\u0085K\u0001\u0085\u0089h\u0000)RtRs.");
        var path = WriteCheckpoint(dir.Path, pkl, "c", new byte[16]);
        var ex = Assert.Throws<TorchCheckpointException>(() => TorchCheckpoint.Open(path));
        Assert.Contains("reaches element 7 of storage data/0, which has 4", ex.Message, StringComparison.Ordinal);
    }

    private static string WriteCheckpoint(string dir, byte[] pickle, string name = "a", byte[]? storage0 = null)
    {
        var path = Path.Combine(dir, name + ".pt");
        using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
        using (var s = zip.CreateEntry($"{name}/data.pkl", CompressionLevel.NoCompression).Open())
        {
            s.Write(pickle);
        }

        if (storage0 is not null)
        {
            using var s = zip.CreateEntry($"{name}/data/0", CompressionLevel.NoCompression).Open();
            s.Write(storage0);
        }

        return path;
    }
}
