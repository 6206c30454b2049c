namespace HpsSharp.Training.Optim;

/// <summary>The parameter groups of HPSv3 training (each may have its own learning rate, and may be frozen).</summary>
public enum ParameterGroup
{
    /// <summary><c>model.layers.*</c>, <c>model.norm</c> and anything else not named below.</summary>
    Decoder,

    /// <summary><c>visual.*</c> except the merger.</summary>
    Vision,

    /// <summary><c>visual.merger.*</c>.</summary>
    Merger,

    /// <summary><c>rm_head.*</c>.</summary>
    Head,

    /// <summary><c>model.embed_tokens.weight</c>: only the <c>&lt;|Reward|&gt;</c> row is trained.</summary>
    RewardEmbedding,

    /// <summary><c>lm_head.*</c>: not used by the reward model, never trained.</summary>
    Unused,

    /// <summary>LoRA matrices (<c>*.lora_A.weight</c>, <c>*.lora_B.weight</c>), present only with <c>--lora</c>.</summary>
    Lora,
}

/// <summary>Classification of official HPSv3 parameter names into groups.</summary>
public static class ParameterGroups
{
    /// <summary>The embedding matrix whose <c>&lt;|Reward|&gt;</c> row is trained.</summary>
    public const string EmbeddingName = "model.embed_tokens.weight";

    public static ParameterGroup Classify(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name == EmbeddingName)
        {
            return ParameterGroup.RewardEmbedding;
        }

        if (name.Contains(".lora_A.", StringComparison.Ordinal) || name.Contains(".lora_B.", StringComparison.Ordinal))
        {
            return ParameterGroup.Lora;
        }

        if (name.StartsWith("visual.merger.", StringComparison.Ordinal))
        {
            return ParameterGroup.Merger;
        }

        if (name.StartsWith("visual.", StringComparison.Ordinal))
        {
            return ParameterGroup.Vision;
        }

        if (name.StartsWith("rm_head.", StringComparison.Ordinal))
        {
            return ParameterGroup.Head;
        }

        if (name.StartsWith("lm_head.", StringComparison.Ordinal))
        {
            return ParameterGroup.Unused;
        }

        return ParameterGroup.Decoder;
    }

    /// <summary>
    /// Whether weight decay applies, as HF <c>get_decay_parameter_names</c> decides: not for biases and not for
    /// <c>nn.LayerNorm</c> weights (vision <c>norm1</c>/<c>norm2</c>, merger <c>ln_q</c>); Qwen2 RMSNorm weights do decay.
    /// </summary>
    public static bool Decays(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.EndsWith(".bias", StringComparison.Ordinal) || name == EmbeddingName)
        {
            return false;
        }

        return !(name.StartsWith("visual.", StringComparison.Ordinal)
            && (name.Contains(".norm1.", StringComparison.Ordinal) || name.Contains(".norm2.", StringComparison.Ordinal) || name.Contains(".ln_q.", StringComparison.Ordinal)));
    }
}
