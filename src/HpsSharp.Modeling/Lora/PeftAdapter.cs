using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using HpsSharp.Core;
using HpsSharp.Core.Safetensors;
using TorchSharp;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Lora;

/// <summary>
/// A LoRA adapter folder in Hugging Face PEFT's format: <c>adapter_config.json</c> (a <c>LoraConfig</c>) and
/// <c>adapter_model.safetensors</c> with PEFT's saved key names: <c>base_model.model.&lt;module&gt;.lora_A.weight</c>
/// [r, in] and <c>.lora_B.weight</c> [out, r] for every target module, <c>base_model.model.rm_head.*</c> (a module
/// in <c>modules_to_save</c>), and the trained <c>&lt;|Reward|&gt;</c> embedding row as PEFT's trainable-tokens adapter
/// (<c>trainable_token_indices</c>, PEFT ≥ 0.15): <c>base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta</c>
/// [rows, H], which holds the new values of those rows.
/// </summary>
public sealed class PeftAdapter
{
    /// <summary>The configuration file name.</summary>
    public const string ConfigFile = "adapter_config.json";

    /// <summary>The weights file name.</summary>
    public const string WeightsFile = "adapter_model.safetensors";

    /// <summary>PEFT's prefix of every saved key (PeftModel.base_model = LoraModel, .model = the wrapped model).</summary>
    public const string Prefix = "base_model.model.";

    /// <summary>Key of the trained embedding rows.</summary>
    public const string TokenKey = Prefix + "model.embed_tokens.token_adapter.trainable_tokens_delta";

    private PeftAdapter(string folder, LoraSettings settings, string baseModel, IReadOnlyList<string> modulesToSave, IReadOnlyList<long> tokenRows)
    {
        Folder = folder;
        Settings = settings;
        BaseModel = baseModel;
        ModulesToSave = modulesToSave;
        TokenRows = tokenRows;
    }

    /// <summary>The adapter folder.</summary>
    public string Folder { get; }

    /// <summary>r, α, dropout and target modules.</summary>
    public LoraSettings Settings { get; }

    /// <summary><c>base_model_name_or_path</c>, resolved against <see cref="Folder"/> when relative.</summary>
    public string BaseModel { get; }

    /// <summary>Modules saved whole (HPSv3: <c>rm_head</c>).</summary>
    public IReadOnlyList<string> ModulesToSave { get; }

    /// <summary>Trained embedding rows (HPSv3: 151657).</summary>
    public IReadOnlyList<long> TokenRows { get; }

    /// <summary>Whether <paramref name="folder"/> is an adapter folder (has <c>adapter_config.json</c> and no full weights).</summary>
    public static bool IsAdapterFolder(string folder) =>
        Directory.Exists(folder) && File.Exists(Path.Combine(folder, ConfigFile)) && SafetensorsModel.FindWeights(folder) is null;

    /// <summary>Reads and checks <c>adapter_config.json</c> of <paramref name="folder"/>.</summary>
    /// <exception cref="UserInputException">a missing, malformed or unsupported configuration.</exception>
    public static PeftAdapter Read(string folder)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        var path = Path.Combine(folder, ConfigFile);
        if (!File.Exists(path))
        {
            throw new UserInputException(folder, $"no {ConfigFile}: not a LoRA adapter folder");
        }

        JsonObject cfg;
        try
        {
            cfg = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new UserInputException(path, "is not a JSON object");
        }
        catch (JsonException ex)
        {
            throw new UserInputException(path, $"is not valid JSON: {ex.Message}", ex);
        }

        string peftType = cfg["peft_type"]?.GetValue<string>() ?? "";
        if (peftType != "LORA")
        {
            throw new UserInputException(path, $"peft_type is '{peftType}'; only LORA adapters are supported");
        }

        if (cfg["use_dora"]?.GetValue<bool>() == true || (cfg["bias"]?.GetValue<string>() ?? "none") != "none"
            || cfg["fan_in_fan_out"]?.GetValue<bool>() == true || cfg["rank_pattern"] is JsonObject { Count: > 0 } || cfg["alpha_pattern"] is JsonObject { Count: > 0 })
        {
            throw new UserInputException(path, "uses DoRA, LoRA biases, fan_in_fan_out or per-module rank/alpha patterns, which are not supported");
        }

        var targets = cfg["target_modules"] switch
        {
            JsonArray a => a.Select(n => n!.GetValue<string>()).ToList(),
            JsonValue v => [v.GetValue<string>()],
            _ => throw new UserInputException(path, "has no target_modules"),
        };
        var settings = new LoraSettings(
            Int(cfg, "r", path),
            Number(cfg, "lora_alpha", path),
            cfg["lora_dropout"] is { } d ? d.GetValue<double>() : 0,
            targets,
            cfg["use_rslora"]?.GetValue<bool>() ?? false);
        settings.Validate();
        var baseModel = cfg["base_model_name_or_path"]?.GetValue<string>();
        if (string.IsNullOrWhiteSpace(baseModel))
        {
            throw new UserInputException(path, "has no base_model_name_or_path: the base model folder is needed to apply the adapter");
        }

        if (!Path.IsPathRooted(baseModel))
        {
            baseModel = Path.GetFullPath(Path.Combine(folder, baseModel));
        }

        var modules = cfg["modules_to_save"] is JsonArray m ? m.Select(n => n!.GetValue<string>()).ToList() : [];
        var rows = new List<long>();
        switch (cfg["trainable_token_indices"])
        {
            case JsonObject o:
                foreach (var (_, v) in o)
                {
                    rows.AddRange(v!.AsArray().Select(x => x!.GetValue<long>()));
                }

                break;
            case JsonArray a:
                rows.AddRange(a.Select(x => x!.GetValue<long>()));
                break;
        }

        return new PeftAdapter(Path.GetFullPath(folder), settings, baseModel, modules, rows);
    }

    /// <summary>
    /// Writes the adapter of <paramref name="model"/> (which must carry LoRA layers) into <paramref name="folder"/>:
    /// the LoRA matrices, <c>rm_head</c> and the embedding rows <paramref name="tokenRows"/>. Both files are written
    /// atomically. <paramref name="baseModel"/> becomes <c>base_model_name_or_path</c> (an absolute path).
    /// </summary>
    public static void Write(string folder, Hpsv3Model model, string baseModel, IReadOnlyList<long> tokenRows)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenRows);
        var settings = model.Lora ?? throw new InvalidOperationException("the model has no LoRA adapter to save");
        Directory.CreateDirectory(folder);
        var entries = new List<SafetensorsWriter.Header>();
        var tensors = new List<Tensor>();
        using var scope = NewDisposeScope();
        foreach (var (name, p) in model.named_parameters())
        {
            if (IsLoraParameter(name) || name.StartsWith("rm_head.", StringComparison.Ordinal))
            {
                var t = p.detach().to(ScalarType.Float32).cpu().contiguous();
                entries.Add(new SafetensorsWriter.Header(Prefix + name, SafetensorsDtype.F32, t.shape));
                tensors.Add(t);
            }
        }

        if (tokenRows.Count > 0)
        {
            var embed = model.named_parameters().First(p => p.name == "model.embed_tokens.weight").parameter;
            var rows = embed.detach().index_select(0, tensor(tokenRows.ToArray(), device: embed.device)).cpu().contiguous();
            entries.Add(new SafetensorsWriter.Header(TokenKey, rows.dtype == ScalarType.BFloat16 ? SafetensorsDtype.BF16 : SafetensorsDtype.F32, rows.shape));
            tensors.Add(rows);
        }

        var meta = new Dictionary<string, string> { ["format"] = "pt", ["producer"] = "hpssharp" };
        SafetensorsWriter.WriteStreaming(Path.Combine(folder, WeightsFile), entries, (i, stream) => stream.Write(tensors[i].bytes), meta);

        var cfg = new JsonObject
        {
            ["alpha_pattern"] = new JsonObject(),
            ["auto_mapping"] = null,
            ["base_model_name_or_path"] = Path.GetFullPath(baseModel),
            ["bias"] = "none",
            ["fan_in_fan_out"] = false,
            ["inference_mode"] = true,
            ["init_lora_weights"] = true,
            ["layers_pattern"] = null,
            ["layers_to_transform"] = null,
            ["lora_alpha"] = settings.Alpha,
            ["lora_dropout"] = settings.Dropout,
            ["modules_to_save"] = new JsonArray("rm_head"),
            ["peft_type"] = "LORA",
            ["r"] = settings.R,
            ["rank_pattern"] = new JsonObject(),
            ["revision"] = null,
            ["target_modules"] = new JsonArray(settings.TargetModules.Select(t => (JsonNode)JsonValue.Create(t)!).ToArray()),
            ["task_type"] = "CAUSAL_LM",
            ["trainable_token_indices"] = tokenRows.Count == 0 ? null : new JsonObject { ["embed_tokens"] = new JsonArray(tokenRows.Select(r => (JsonNode)JsonValue.Create(r)!).ToArray()) },
            ["use_dora"] = false,
            ["use_rslora"] = settings.UseRsLora,
        };
        var path = Path.Combine(folder, ConfigFile);
        var tmp = path + ".tmp-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        File.WriteAllText(tmp, cfg.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Whether a parameter name belongs to a LoRA matrix.</summary>
    public static bool IsLoraParameter(string name) =>
        name.Contains(".lora_A.", StringComparison.Ordinal) || name.Contains(".lora_B.", StringComparison.Ordinal);

    /// <summary>
    /// Copies the adapter's tensors into <paramref name="model"/>, which must already carry LoRA layers with these
    /// settings. Every tensor of the file must find its parameter with the same shape, and every LoRA parameter of the
    /// model must be in the file.
    /// </summary>
    /// <exception cref="UserInputException">a missing, unexpected or mis-shaped tensor.</exception>
    public void Apply(Hpsv3Model model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var path = Path.Combine(Folder, WeightsFile);
        if (!File.Exists(path))
        {
            throw new UserInputException(Folder, $"has {ConfigFile} but no {WeightsFile}");
        }

        using var file = SafetensorsFile.Open(path);
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter, StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        using var noGrad = no_grad();
        foreach (var info in file.Tensors)
        {
            using var scope = NewDisposeScope();
            if (!info.Name.StartsWith(Prefix, StringComparison.Ordinal))
            {
                throw new UserInputException(path, $"tensor '{info.Name}' does not start with '{Prefix}' (not a PEFT adapter file)");
            }

            var value = Read(file, info);
            if (info.Name == TokenKey)
            {
                var embed = parameters["model.embed_tokens.weight"];
                if (value.dim() != 2 || value.shape[0] != TokenRows.Count || value.shape[1] != embed.shape[1])
                {
                    throw new UserInputException(path, $"'{info.Name}' is [{string.Join(", ", info.Shape)}], expected [{TokenRows.Count}, {embed.shape[1]}] for trainable_token_indices");
                }

                embed.index_copy_(0, tensor(TokenRows.ToArray(), device: embed.device), value.to(embed.dtype, embed.device));
                continue;
            }

            // PEFT saves without the adapter name; accept a ".default" left in by hand-made files too.
            var name = info.Name[Prefix.Length..].Replace(".lora_A.default.", ".lora_A.", StringComparison.Ordinal).Replace(".lora_B.default.", ".lora_B.", StringComparison.Ordinal);
            if (!parameters.TryGetValue(name, out var p))
            {
                throw new UserInputException(path, $"tensor '{info.Name}' has no counterpart in the model (targets: {Settings.TargetModules.Count} modules)");
            }

            if (!p.shape.SequenceEqual(info.Shape))
            {
                throw new UserInputException(path, $"'{info.Name}' is [{string.Join(", ", info.Shape)}], the model's '{name}' is [{string.Join(", ", p.shape)}]");
            }

            p.copy_(value.to(p.dtype, p.device));
            seen.Add(name);
        }

        var missing = parameters.Keys.Where(IsLoraParameter).Where(n => !seen.Contains(n)).ToList();
        if (missing.Count > 0)
        {
            throw new UserInputException(path, $"lacks {missing.Count} LoRA tensors, e.g. '{Prefix + missing[0]}'");
        }
    }

    private static Tensor Read(SafetensorsFile file, TensorInfo info)
    {
        var dtype = info.Dtype switch
        {
            SafetensorsDtype.F32 => ScalarType.Float32,
            SafetensorsDtype.BF16 => ScalarType.BFloat16,
            SafetensorsDtype.F16 => ScalarType.Float16,
            SafetensorsDtype.F64 => ScalarType.Float64,
            _ => throw new UserInputException(file.Path, $"'{info.Name}' has dtype {info.Dtype}, expected a floating type"),
        };
        var t = empty(info.Shape, dtype);
        t.bytes = file.ReadBytes(info.Name);
        return t;
    }

    private static int Int(JsonObject cfg, string key, string path) =>
        cfg[key] is JsonValue v && v.TryGetValue<int>(out var i) ? i : throw new UserInputException(path, $"'{key}' must be a whole number");

    private static double Number(JsonObject cfg, string key, string path) =>
        cfg[key] is JsonValue v && v.TryGetValue<double>(out var d) ? d : throw new UserInputException(path, $"'{key}' must be a number");
}
