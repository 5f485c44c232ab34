-- Identity label propagation, pass 10 of 16 (macros/identity.sql).
{{ identity_pass(ref('int_identity_pass_09'), ref('int_identity_edges')) }}
