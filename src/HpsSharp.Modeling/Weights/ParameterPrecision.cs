namespace HpsSharp.Modeling.Weights;

/// <summary>
/// Which dtype a parameter takes when a <see cref="WeightSource"/> hands it out. Shared layers (<c>Layers/</c>) ask
/// for <see cref="Model"/> unless told otherwise; they know nothing of a scorer's tensor roles. A scorer maps its own
/// roles onto these (HPSv3: the backbone is <see cref="Model"/>, <c>rm_head</c> is <see cref="Float32"/>).
/// </summary>
internal enum ParameterPrecision
{
    /// <summary>The dtype the model computes in (bf16 or fp32, a load option).</summary>
    Model,

    /// <summary>Always fp32, whatever the model's dtype (a head that must not be rounded to bf16).</summary>
    Float32,
}
