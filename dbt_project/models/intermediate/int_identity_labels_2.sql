-- Label propagation, passes N+1..2N.
{{ identity_passes(ref('int_identity_labels_1'), ref('int_identity_edges'), var('identity_passes_per_model')) }}
