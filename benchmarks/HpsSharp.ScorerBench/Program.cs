// Baseline scorer benchmark on CPU (issue #13 item 6). One scorer, one dtype and one part per process, so the peak
// RSS (VmHWM) belongs to that model alone. The released checkpoints are not on the build machine: each model is built
// at its real size (../shared/fixtures/scorers/real-shapes.json) with random weights made directly in the measured
// dtype (never an fp32 copy first), which costs the same arithmetic as the real weights.
//   1. matmul ceiling: bf16 and fp32 GEMMs of the model's widest layer at the batch's token count ([B·T, W]×[W, 4W]),
//      best of 3, measured before and after the model runs in the same process;
//   2. forward: the towers on a batch of B images (and B real prompts), warm-up then N timed runs; images/s =
//      B / median; achieved FLOP/s = analytic FLOPs / median, as a fraction of the same-dtype ceiling;
//   3. fp32 and --part all: the product path too — the IScorer (decode, the scorer's own preprocessing and
//      tokenisation, forward) on B real images, images/s end to end;
//   4. VmHWM (kernel peak RSS) and RssAnon sampled every 2 ms; load average before and after.
// Usage (from the repository root):
//   dotnet benchmarks/HpsSharp.ScorerBench/bin/Release/net10.0/HpsSharp.ScorerBench.dll
//       pickscore|hpsv2|clipscore|aesthetic|imagereward [--dtype fp32|bf16] [--part all|vision|text] [--batch B] [--runs N]
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using HpsSharp.Core.Imaging;
using HpsSharp.Core.Scoring;
using HpsSharp.Core.Text.Bert;
using HpsSharp.Core.Text.Clip;
using HpsSharp.Modeling.Blip;
using HpsSharp.Modeling.Clip;
using HpsSharp.Modeling.Scorers;
using HpsSharp.ScorerBench;
using static TorchSharp.torch;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

string[] scorers = ["pickscore", "hpsv2", "clipscore", "aesthetic", "imagereward"];
if (args.Length < 1 || !scorers.Contains(args[0]))
{
    Console.Error.WriteLine($"usage: HpsSharp.ScorerBench {string.Join('|', scorers)} [--dtype fp32|bf16] [--part all|vision|text] [--batch B] [--runs N]");
    return 2;
}

string scorer = args[0];
string dtypeName = "fp32", part = "all";
int batch = 4, runs = 3;
for (int i = 1; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--dtype": dtypeName = args[++i]; break;
        case "--part": part = args[++i]; break;
        case "--batch": batch = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--runs": runs = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        default: Console.Error.WriteLine($"unknown argument '{args[i]}'"); return 2;
    }
}

if (dtypeName is not ("fp32" or "bf16") || part is not ("all" or "vision" or "text") || (part == "text" && scorer == "aesthetic"))
{
    Console.Error.WriteLine("--dtype fp32|bf16, --part all|vision|text (the aesthetic predictor has no text tower)");
    return 2;
}

var dtype = dtypeName == "bf16" ? ScalarType.BFloat16 : ScalarType.Float32;
var fixtures = Paths.Find("HPS_FIXTURES", "fixtures");
var assets = Paths.Find("HPS_ASSETS", "assets");
using var shapes = JsonDocument.Parse(File.ReadAllText(Path.Combine(fixtures, "scorers", "real-shapes.json")));
var prompts = JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(Path.Combine(assets, "images", "prompts.json")))!;
var imageFiles = prompts.Keys.Where(k => File.Exists(Path.Combine(assets, "images", k))).Order(StringComparer.Ordinal).ToArray();
var items = Enumerable.Range(0, batch).Select(i => imageFiles[i % imageFiles.Length]).Select(f => (Prompt: prompts[f], Path: Path.Combine(assets, "images", f))).ToList();

Console.WriteLine($"scorer {scorer}, {dtypeName}, part {part}, batch {batch}, {runs} runs; {Environment.ProcessorCount} logical CPUs, libtorch threads {get_num_threads()}; {Machine.CpuModel()}; {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
Console.WriteLine($"load average at start: {Machine.LoadAverage()}");

// The architecture at real size.
ClipConfig? clip = scorer switch
{
    "pickscore" => Configs.HuggingFace(shapes.RootElement.GetProperty("pickscore")),
    "clipscore" or "aesthetic" => Configs.HuggingFace(shapes.RootElement.GetProperty("clipscore")),
    "hpsv2" => ClipConfig.FromOpenClip(shapes.RootElement.GetProperty("hpsv2").GetProperty("model_cfg")),
    _ => null,
};
var blipVision = BlipVisionConfig.Large;
var bert = new BertConfig(30524, 768, 12, 12, 3072, 512, 1e-12);
int visionWidth = clip?.Vision.Width ?? blipVision.Width;
int visionTokens = clip is null ? ((blipVision.ImageSize / blipVision.PatchSize) * (blipVision.ImageSize / blipVision.PatchSize)) + 1 : ((clip.ImageSize / clip.PatchSize) * (clip.ImageSize / clip.PatchSize)) + 1;

// Text inputs as the scorer makes them: HF CLIP pads to the batch's longest, open_clip to 77, ImageReward's BERT to 35.
var clipTokenizer = ClipTokenizer.Load(Path.Combine(assets, "clip-tokenizer", "bpe_simple_vocab_16e6.txt.gz"));
Tensor ids, mask;
if (scorer == "imagereward")
{
    var bertTokenizer = BertTokenizer.Load(Path.Combine(assets, "bert-tokenizer"));
    var enc = items.Select(x => bertTokenizer.Encode(x.Prompt, ImageRewardScorer.MaxLength)).ToList();
    ids = tensor(enc.SelectMany(e => e.Ids).ToArray(), [batch, ImageRewardScorer.MaxLength]);
    mask = tensor(enc.SelectMany(e => e.Mask).ToArray(), [batch, ImageRewardScorer.MaxLength]);
}
else if (scorer == "hpsv2")
{
    ids = stack(items.Select(x => tensor(clipTokenizer.EncodePadded(x.Prompt, ClipTokenizerFlavor.OpenClip, clip!.ContextLength))).ToList());
    mask = ones_like(ids);
}
else
{
    (ids, mask) = ClipFamilyScorer.PadBatch(items.Select(x => clipTokenizer.Encode(x.Prompt, ClipTokenizerFlavor.HuggingFaceFast, clip!.ContextLength)).ToList(), ClipTokenizer.EotId);
}

long textTokens = ids.shape[1];
bool vision = part is "all" or "vision", text = part is "all" or "text" && scorer != "aesthetic";
var flops = new Flops();
if (clip is not null)
{
    if (vision)
    {
        flops.Add("vision", Flops.Vit(clip.Vision.Width, clip.Vision.Layers, clip.Vision.Intermediate, visionTokens, clip.PatchSize, clip.ProjectionDim) * batch);
    }

    if (text)
    {
        flops.Add("text", Flops.Transformer(clip.Text.Width, clip.Text.Layers, clip.Text.Intermediate, textTokens) * batch);
    }
}
else
{
    if (vision)
    {
        flops.Add("vision", Flops.Vit(blipVision.Width, blipVision.Depth, (int)(blipVision.Width * blipVision.MlpRatio), visionTokens, blipVision.PatchSize, 0) * batch);
    }

    if (text)
    {
        flops.Add("text", Flops.Bert(bert.Hidden, bert.Layers, bert.Intermediate, textTokens, visionTokens, blipVision.Width) * batch);
    }
}

Console.WriteLine($"input: batch {batch}, {visionTokens} image tokens at width {visionWidth}, {textTokens} text tokens; analytic forward FLOPs {flops.Total / 1e9:F1} G ({flops})");

// The ceiling: the widest layer's GEMM at this batch's token count, in both dtypes.
long gemmRows = part == "text" ? batch * textTokens : batch * visionTokens;
int gemmWidth = part == "text" ? (clip?.Text.Width ?? bert.Hidden) : visionWidth;
var before = (Bf16: Ceiling.Measure(gemmRows, gemmWidth, 4 * gemmWidth, ScalarType.BFloat16), Fp32: Ceiling.Measure(gemmRows, gemmWidth, 4 * gemmWidth, ScalarType.Float32));
Console.WriteLine($"matmul ceiling before ([{gemmRows},{gemmWidth}]×[{gemmWidth},{4 * gemmWidth}]): bf16 {before.Bf16 / 1e9:F0} GFLOP/s, fp32 {before.Fp32 / 1e9:F0} GFLOP/s");

var sampler = new MemorySampler();
sampler.Start();
var buildWatch = Stopwatch.StartNew();
var weights = new RandomWeightSource(dtype);
ClipModel? clipModel = null;
ClipTextTower? textOnly = null;
BlipVisionTransformer? blip = null;
BertTextEncoder? bertEncoder = null;
AestheticMlp? mlp = null;
if (clip is not null)
{
    var layout = scorer == "hpsv2" ? ClipLayout.OpenClip : ClipLayout.HuggingFace;
    if (part == "text")
    {
        // The text tower alone, so a ViT-H/14 in fp32 can be measured in two processes under 3 GB each.
        textOnly = new ClipTextTower(clip, layout, weights);
    }
    else
    {
        clipModel = new ClipModel(clip, layout, weights, withText: text);
    }

    if (scorer == "aesthetic")
    {
        mlp = new AestheticMlp([(768, 1024), (1024, 128), (128, 64), (64, 16), (16, 1)], weights);
    }
}
else
{
    if (vision)
    {
        blip = new BlipVisionTransformer("blip.visual_encoder", blipVision, weights);
    }

    if (text)
    {
        bertEncoder = new BertTextEncoder("blip.text_encoder", bert, blipVision.Width, weights);
        mlp = new AestheticMlp([(768, 1024), (1024, 128), (128, 64), (64, 16), (16, 1)], weights, "mlp.layers");
    }
}

long parameters = (clipModel?.parameters().Sum(p => p.numel()) ?? 0) + (textOnly?.parameters().Sum(p => p.numel()) ?? 0) + (blip?.parameters().Sum(p => p.numel()) ?? 0) + (bertEncoder?.parameters().Sum(p => p.numel()) ?? 0) + (mlp?.parameters().Sum(p => p.numel()) ?? 0);
Console.WriteLine($"built {parameters / 1e6:F1} M parameters ({dtypeName}, random) in {buildWatch.Elapsed.TotalSeconds:F1} s: {MemorySampler.Read()}");

int imageSize = clip?.ImageSize ?? blipVision.ImageSize;
var pixels = randn([batch, 3, imageSize, imageSize], dtype);
var times = new List<double>();
for (int r = 0; r <= runs; r++)
{
    var w = Stopwatch.StartNew();
    using (var scope = NewDisposeScope())
    using (var noGrad = no_grad())
    {
        Tensor? image = null;
        if (clip is not null)
        {
            if (vision)
            {
                image = clipModel!.vision.Forward(pixels, null);
            }

            if (text)
            {
                (textOnly ?? clipModel!.text!).Forward(ids, null, null).sum().to(ScalarType.Float32).item<float>();
            }

            if (mlp is not null && image is not null)
            {
                mlp.Forward(image, null).sum().to(ScalarType.Float32).item<float>();
            }
            else
            {
                image?.sum().to(ScalarType.Float32).item<float>();
            }
        }
        else
        {
            // ImageReward's text encoder cross-attends to the image tokens; alone, it gets random ones of the right shape.
            image = blip is not null ? blip.Forward(pixels, null) : randn([batch, visionTokens, blipVision.Width], dtype);
            if (text)
            {
                var cls = bertEncoder!.Forward(ids, mask, image, null);
                mlp!.Forward(cls, null).sum().to(ScalarType.Float32).item<float>();
            }
            else
            {
                image.sum().to(ScalarType.Float32).item<float>();
            }
        }
    }

    if (r > 0)
    {
        times.Add(w.Elapsed.TotalSeconds);
    }

    Console.WriteLine($"{(r == 0 ? "warm-up" : $"run {r}")}: {w.Elapsed.TotalSeconds:F2} s: {MemorySampler.Read()}, load {Machine.LoadAverage()}");
}

double median = Median(times);

// The product path, fp32 only (the scorers run in fp32): decode + the scorer's preprocessing + tokenisation + forward.
double? endToEnd = null;
if (dtype == ScalarType.Float32 && part == "all")
{
    var info = new ModelInfo($"{scorer} (real shapes, random weights)", "bench", false, "fp32", 0, 0) { Scorer = scorer };
    ClipFamilyScorer product = scorer switch
    {
        "pickscore" => new PickScoreScorer(clipModel!, clipTokenizer, info),
        "clipscore" => new ClipScoreScorer(clipModel!, clipTokenizer, info, string.Empty),
        "hpsv2" => new Hpsv2Scorer(clipModel!, clipTokenizer, info, antialias: true),
        "aesthetic" => new AestheticScorer(clipModel!, mlp!, info),
        _ => new ImageRewardScorer(blip!, bertEncoder!, mlp!, BertTokenizer.Load(Path.Combine(assets, "bert-tokenizer")), blipVision.ImageSize, info),
    };
    product.WithBatchSize(batch);
    var requests = items.Select(x => new ScoreRequest(x.Prompt, ImageInput.FromPath(x.Path))).ToList();
    var e2e = new List<double>();
    for (int r = 0; r < 1; r++)
    {
        var w = Stopwatch.StartNew();
        var results = await product.ScoreAsync(requests);
        e2e.Add(w.Elapsed.TotalSeconds);
        if (results.Any(x => x.Score is null))
        {
            Console.Error.WriteLine($"scoring failed: {results.First(x => x.Score is null).Error}");
            return 1;
        }
    }

    endToEnd = e2e.Min();
    Console.WriteLine($"end to end through the IScorer (decode + preprocessing + tokenisation + forward), batch {batch}: {string.Join(", ", e2e.Select(t => t.ToString("F2", CultureInfo.InvariantCulture)))} s");
}

sampler.Stop();
var after = (Bf16: Ceiling.Measure(gemmRows, gemmWidth, 4 * gemmWidth, ScalarType.BFloat16), Fp32: Ceiling.Measure(gemmRows, gemmWidth, 4 * gemmWidth, ScalarType.Float32));
Console.WriteLine($"matmul ceiling after: bf16 {after.Bf16 / 1e9:F0} GFLOP/s, fp32 {after.Fp32 / 1e9:F0} GFLOP/s");
double ceiling = dtype == ScalarType.BFloat16 ? (before.Bf16 + after.Bf16) / 2 : (before.Fp32 + after.Fp32) / 2;
double achieved = flops.Total / median;
Console.WriteLine();
Console.WriteLine($"RESULT {scorer} {dtypeName} {part}: forward {median:F3} s per batch of {batch} (median of {runs}; best {times.Min():F3}) = {batch / median:F2} images/s; {achieved / 1e9:F1} GFLOP/s = {achieved / ceiling:P1} of the {ceiling / 1e9:F0} GFLOP/s {dtypeName} ceiling (bf16 {(before.Bf16 + after.Bf16) / 2e9:F0}, fp32 {(before.Fp32 + after.Fp32) / 2e9:F0})");
if (endToEnd is { } e)
{
    Console.WriteLine($"RESULT {scorer} {dtypeName} {part}: end to end {batch / e:F2} images/s (one batch of {batch} through the IScorer, after the warm forwards)");
}

Console.WriteLine($"RESULT {scorer} {dtypeName} {part}: peak VmHWM {MemorySampler.Field("VmHWM") / 1e6:F2} GB, max RssAnon {sampler.MaxAnon / 1e6:F2} GB; {parameters / 1e6:F1} M parameters = {parameters * (dtype == ScalarType.BFloat16 ? 2 : 4) / 1e9:F2} GB of weights");
Console.WriteLine($"load average at end: {Machine.LoadAverage()}");
return 0;

static double Median(List<double> xs)
{
    var s = xs.Order().ToList();
    return s.Count % 2 == 1 ? s[s.Count / 2] : (s[(s.Count / 2) - 1] + s[s.Count / 2]) / 2;
}
