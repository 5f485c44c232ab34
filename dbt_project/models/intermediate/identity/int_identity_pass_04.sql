-- Identity label propagation, pass 4 of 16 (macros/identity.sql).
{{ identity_pass(ref('int_identity_pass_03'), ref('int_identity_edges')) }}
