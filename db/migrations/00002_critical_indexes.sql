-- +goose Up
-- The operations guide's critical indexes ("Indexing Strategy"). Its
-- idx_messages_appeal_timestamps repeats idx_messages_appeal_created column
-- for column, so it is deliberately not created: schema validation reports it
-- as a duplicate wherever it exists.
CREATE INDEX idx_appeals_user_status ON appeals(user_id, status);
CREATE INDEX idx_messages_appeal_created ON appeal_negotiation_messages(appeal_id, created_at);
CREATE INDEX idx_predictions_type_user ON ml_predictions(prediction_type, user_id);

-- What archival and the dashboard's database-derived figures need: the
-- submission rate and archival select appeals by time and status, and the
-- prediction panels read the newest predictions.
CREATE INDEX idx_appeals_created ON appeals(created_at);
CREATE INDEX idx_appeals_status_created ON appeals(status, created_at);
CREATE INDEX idx_messages_created ON appeal_negotiation_messages(created_at);
CREATE INDEX idx_predictions_created ON ml_predictions(created_at);

-- +goose Down
DROP INDEX idx_predictions_created;
DROP INDEX idx_messages_created;
DROP INDEX idx_appeals_status_created;
DROP INDEX idx_appeals_created;
DROP INDEX idx_predictions_type_user;
DROP INDEX idx_messages_appeal_created;
DROP INDEX idx_appeals_user_status;
