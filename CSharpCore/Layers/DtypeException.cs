namespace Functional.Layers;

/// <summary>
/// A layer was given an input (or variables) of a dtype it cannot take: an integer or boolean
/// tensor where it computes in floating point, floating-point ids where it looks up integers,
/// or variables of mixed floating dtypes. Floating inputs of another floating dtype are not an
/// error: a layer with variables casts them to its variables' dtype, as Keras does. Raised
/// before libtorch is reached; the message names the layer.
/// </summary>
public sealed class DtypeException(string message) : ArgumentException(message);
